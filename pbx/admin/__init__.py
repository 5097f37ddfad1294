"""The admin service: configuration rules (what may be changed, deleted, referenced), kept
out of the HTTP handlers. A rule that refuses raises a domain error from `errors`, which
`pbx/http/admin_api.py` maps to a status code in one place."""
