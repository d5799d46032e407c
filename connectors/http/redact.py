"""Redaction lives in the core (``offering_sync.redact``) so core errors can use it too."""

from offering_sync.redact import RedactingFilter, install_log_redaction, redact, register_secret

__all__ = ["RedactingFilter", "install_log_redaction", "redact", "register_secret"]
