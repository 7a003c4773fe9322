"""Outgoing email over SMTP (password-reset links)."""
