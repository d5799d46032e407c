"""Scrub secrets from text, URLs, headers and log records before anyone sees them.

Every credential a connector builds is registered here, so its exact value is replaced wherever
it appears, and so are the forms a vendor's answer may echo it in: JSON-escaped (once, or twice
when a JSON body sits inside a JSON string) and URL-encoded. Well-known shapes (Bearer tokens,
``access_token`` fields, ``token`` headers) are masked even when unregistered.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from urllib.parse import quote, quote_plus

__all__ = ["RedactingFilter", "install_log_redaction", "redact", "redacting", "register_secret"]

_MASK = "***"
_lock = threading.Lock()
_secrets: set[str] = set()
_PATTERNS = [
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]{6,}"),
    re.compile(r"(?i)(\"?(?:access_token|client_secret|refresh_token|password|token)\"?"
               r"\s*[:=]\s*\"?)[^\s\"&,}]{4,}"),
    re.compile(r"(?i)((?:access_token|client_secret|token)=)[^&\s]+"),
]


def register_secret(value: str | None) -> None:
    """Remember a secret so that ``redact`` removes it, in any of its echoed forms, from text."""
    if value and len(value) >= 4:
        forms = _forms(value)
        with _lock:
            _secrets.update(forms)


def _forms(value: str) -> set[str]:
    """The secret as written, JSON-escaped and URL-encoded: how a vendor's body may echo it."""
    escaped = json.dumps(value)[1:-1]
    forms = {value, escaped, json.dumps(value, ensure_ascii=False)[1:-1],
             json.dumps(escaped)[1:-1]}
    for encoded in (quote(value, safe=""), quote(value), quote_plus(value, safe=""),
                    quote_plus(value)):
        forms |= {encoded, re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), encoded)}
    return forms


def redact(text: str) -> str:
    """The text with every registered secret and token-shaped value masked."""
    if not text:
        return text
    with _lock:
        known = sorted(_secrets, key=len, reverse=True)
    for secret in known:
        if secret in text:
            text = text.replace(secret, _MASK)
    for pattern in _PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + _MASK, text)
    return text


class RedactingFilter(logging.Filter):
    """A logging filter that redacts the formatted message of every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record's message in place; never drops a record."""
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            return True
        cleaned = redact(message)
        if cleaned != message or record.args:
            record.msg, record.args = cleaned, None
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            record.exc_text = redact(
                logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
            del exc
        return True


_installed = False


def _redacting_factory(factory: Callable[..., logging.LogRecord],
                       ) -> Callable[..., logging.LogRecord]:
    """``factory``, with every record it makes redacted."""

    def make_record(*args: object, **kwargs: object) -> logging.LogRecord:
        record = factory(*args, **kwargs)
        RedactingFilter().filter(record)
        return record

    return make_record


def install_log_redaction() -> None:
    """Attach ``RedactingFilter`` to the root logger's handlers and to new records' factory."""
    global _installed
    if _installed:
        return
    _installed = True
    factory = logging.getLogRecordFactory()
    logging.setLogRecordFactory(_redacting_factory(factory))


@contextmanager
def redacting() -> Iterator[None]:
    """Redact every log record made inside the block; the previous record factory comes back.

    For library entry points (a flow run): the scrubbing holds for the run and leaves the
    caller's logging as it was. The command line installs it for good instead.
    """
    global _installed
    if _installed:
        yield
        return
    factory = logging.getLogRecordFactory()
    make_record = _redacting_factory(factory)
    logging.setLogRecordFactory(make_record)
    try:
        yield
    finally:
        if logging.getLogRecordFactory() is make_record:
            logging.setLogRecordFactory(factory)
