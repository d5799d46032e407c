"""The one exception tree of offering-sync, grouped by what the caller does about it.

```
SyncError
├── ConfigError          bad settings, unknown system, missing credential → CLI: one sentence, exit 2
├── MappingError         bad mapping file (file:line, field)               → fix the YAML
├── ConnectorError       (system, status, vendor_message, record)          never carries a secret
│   ├── TransientError   5xx, timeouts, dropped connections                → retried
│   │   └── RateLimited  429 (.retry_after)                                → retried after the wait
│   ├── QuotaExhausted   the vendor's daily quota is used up               → stop, checkpoint, report
│   ├── Unauthorized     credentials refused (after one token refresh)      → fix the credential
│   └── Rejected         the whole request was refused (4xx)                → never retried
├── InvalidRecord        (key, field, value, reason) while mapping/validating → dead letter
├── LockHeld             another run of the same pipeline holds the lock
└── StateError           database or migration trouble
    └── LockLost         this run's lock was taken over: it must stop recording
```

Messages never contain credentials: vendor text passes through ``offering_sync.redact``
before it is raised, and database errors never carry SQL or row data.
"""

from __future__ import annotations

from datetime import date
from typing import Any

__all__ = [
    "ConfigError",
    "ConnectorError",
    "InvalidRecord",
    "LockHeld",
    "LockLost",
    "MappingError",
    "QuotaExhausted",
    "RateLimited",
    "Rejected",
    "StateError",
    "SyncError",
    "TransientError",
    "Unauthorized",
]

_MAX_VALUE_CHARS = 120


class SyncError(Exception):
    """Base of every error offering-sync raises on purpose."""


class ConfigError(SyncError):
    """A setting, system name, credential or file the user must fix."""


class MappingError(SyncError):
    """A mapping file is invalid; the message names the file, line and field."""

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None,
                 field: str | None = None) -> None:
        where = file or "<mapping>"
        if line is not None:
            where = f"{where}:{line}"
        prefix = f"{where}: " + (f"field {field!r}: " if field else "")
        super().__init__(prefix + message)
        self.file, self.line, self.field = file, line, field


class ConnectorError(SyncError):
    """A vendor call failed; carries the system, HTTP status, vendor message and record."""

    retryable = False

    def __init__(self, message: str, *, system: str, status: int | None = None,
                 vendor_message: str | None = None, record: str | None = None) -> None:
        parts = [f"{system}: {message}"]
        if status is not None:
            parts.append(f"HTTP {status}")
        if record:
            parts.append(f"record {record}")
        if vendor_message:
            parts.append(f"vendor said: {vendor_message}")
        super().__init__(" | ".join(parts))
        self.system, self.status = system, status
        self.vendor_message, self.record = vendor_message, record


class TransientError(ConnectorError):
    """A failure that may pass: 5xx, timeout, dropped connection."""

    retryable = True


class RateLimited(TransientError):
    """The vendor asked us to slow down (429), optionally saying for how long."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.retry_after = retry_after


class QuotaExhausted(ConnectorError):
    """The vendor's quota for the period is used up; waiting seconds will not help."""


class Unauthorized(ConnectorError):
    """The vendor refused our credentials, even after a token refresh."""


class Rejected(ConnectorError):
    """The vendor refused the whole request (4xx): contract drift or a bad batch."""


class InvalidRecord(SyncError):
    """One record cannot be mapped or validated; it goes to dead letters, the run goes on."""

    def __init__(self, reason: str, *, key: str | None = None, field: str | None = None,
                 value: Any = None) -> None:
        shown = _short(value)
        text = reason
        if field:
            text = f"field {field!r}: {text}"
        if value is not None:
            text = f"{text} (value: {shown})"
        if key:
            text = f"record {key}: {text}"
        super().__init__(text)
        self.reason, self.key, self.field, self.value = reason, key, field, value

    def with_key(self, key: str) -> InvalidRecord:
        """The same error, naming the record it concerns."""
        if self.key:
            return self
        return InvalidRecord(self.reason, key=key, field=self.field, value=self.value)


class LockHeld(SyncError):
    """Another live run of the same pipeline holds the lock."""


class StateError(SyncError):
    """The state store cannot be reached or migrated."""


class LockLost(StateError):
    """This run no longer holds its pipeline's lock (another run recovered it)."""


def _short(value: Any) -> str:
    # Dates as a user writes them (2031-03-01T00:00:00+00:00), not as Python's repr.
    text = value.isoformat() if isinstance(value, date) else repr(value)
    if len(text) > _MAX_VALUE_CHARS:
        return text[: _MAX_VALUE_CHARS - 3] + "..."
    return text
