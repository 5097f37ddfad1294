"""What the caller hears, in the caller's language: the prompts' texts (texts/<lang>.toml),
their audio build for Asterisk, and money, numbers and dates read out of word prompts."""
