"""Users, credentials, tokens, roles and profiles."""
