"""Who is calling the API: passwords, sessions, roles and the login rate limit."""
