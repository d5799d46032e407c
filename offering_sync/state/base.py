"""The state store's foundation: the engine, migrations, and transactions that fail safely.

Every database error leaves here as a ``StateError`` that names the problem and the store
(password hidden) and never carries SQL text or row data, which could hold a customer's
records. A SQLite file deleted while a run works is noticed at the next transaction: SQLite
would otherwise keep writing into the unlinked file and the next run would start from nothing.
"""

from __future__ import annotations

import fcntl
import re
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.exc import SQLAlchemyError

from offering_sync.errors import StateError
from offering_sync.redact import redact, register_secret

__all__ = ["StoreBase", "aware", "now", "safe_url"]

_MIGRATIONS = Path(__file__).with_name("migrations")
_LOCK_KEY = 0x0FF3_5EED  # the advisory lock that serialises migrations on PostgreSQL
_CHECK_SECONDS = 0.25
_WRITERS: dict[Path, threading.Lock] = {}
_WRITERS_LOCK = threading.Lock()


def _writer_turn(database: Path | None) -> AbstractContextManager[object]:
    """The lock that lets this process's writers of one SQLite file take turns."""
    if database is None:
        return nullcontext()
    key = database.resolve()
    with _WRITERS_LOCK:
        return _WRITERS.setdefault(key, threading.Lock())


def now() -> datetime:
    """The current instant in UTC."""
    return datetime.now(UTC)


def aware(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; they were written as UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def safe_url(url: str) -> str:
    """The URL with its password masked, even when the password holds an unencoded ``@``."""
    head, sep, tail = url.partition("://")
    if not sep or "@" not in tail:
        return url
    userinfo, _, host = tail.rpartition("@")  # the host follows the *last* @
    user = userinfo.split(":", 1)[0]
    return f"{head}{sep}{user}:***@{host}" if ":" in userinfo else f"{head}{sep}{user}@{host}"


def _password(url: str) -> str | None:
    _head, sep, tail = url.partition("://")
    if not sep or "@" not in tail:
        return None
    userinfo = tail.rpartition("@")[0]
    return userinfo.split(":", 1)[1] if ":" in userinfo else None


def describe_db_error(exc: BaseException) -> str:
    """The database's own reason in one line, without SQL, parameters or row values."""
    orig = getattr(exc, "orig", None) or exc
    first = str(orig).strip().splitlines()[0] if str(orig).strip() else orig.__class__.__name__
    first = first.split("[SQL:", 1)[0].split("DETAIL:", 1)[0].strip()
    return redact(f"{orig.__class__.__name__}: {first}"[:300])


class StoreBase:
    """Engine, migrations and the one transaction helper every part of the store uses."""

    def __init__(self, url: str, *, migrate: bool = True) -> None:
        self.url = url
        register_secret(_password(url))
        if "@" in (_password(url) or ""):
            raise StateError(f"state store {safe_url(url)}: the password in "
                             "OFFERING_SYNC_STATE_URL holds an '@'; percent-encode it as %40")
        self._sqlite_file = _sqlite_file(url)
        self._writer_turn = _writer_turn(self._sqlite_file)
        if self._sqlite_file is not None and not self._sqlite_file.parent.is_dir():
            raise StateError(f"state store {safe_url(url)}: folder {self._sqlite_file.parent} "
                             "does not exist")
        try:
            self.engine: Engine = _make_engine(url)
            if migrate:
                self.migrate()
        except SQLAlchemyError as exc:
            raise StateError(f"state store {safe_url(url)} is not usable: "
                             f"{describe_db_error(exc)}") from None
        except CommandError as exc:  # its schema revision is one this version does not know
            found = re.search(r"identified by '([^']+)'", str(exc))
            head = ScriptDirectory(str(_MIGRATIONS)).get_current_head()
            raise StateError(
                f"state store {safe_url(url)} has schema revision "
                f"{found.group(1) if found else '(unknown)'}, newer than this offering-sync "
                f"knows (up to {head}): a newer version wrote it; run that version here too "
                "(every process sharing a store must run the same version)") from None
        self._identity = self._file_identity()
        self._checked_at = time.monotonic()

    def migrate(self) -> None:
        """Bring the schema to the newest Alembic revision, one process at a time.

        Workers starting together on a new database would otherwise race to create the same
        tables: PostgreSQL takes an advisory lock, SQLite a lock file beside the database.
        """
        cfg = Config()
        cfg.set_main_option("script_location", str(_MIGRATIONS))
        with _migration_lock(self._sqlite_file), self.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")

    def close(self) -> None:
        """Dispose of pooled connections."""
        self.engine.dispose()

    @contextmanager
    def _tx(self, *, write: bool = False, check: bool = False) -> Iterator[Connection]:
        """One transaction, its database errors turned into a ``StateError``.

        ``write`` marks a hot writer (the batch commit): on SQLite, writers of this process take
        turns on a lock of their own instead of SQLite's busy handler, which sleeps 1, 2, 5,
        10… ms between tries and so left committed batches waiting (with k batches loading at
        once, up to k threads commit together). ``check`` makes sure the database file is still
        the one opened, whenever it was last checked.
        """
        self._check_file(force=check)
        turn = self._writer_turn if write else nullcontext()
        try:
            with turn, self.engine.begin() as conn:
                yield conn
        except SQLAlchemyError as exc:
            raise StateError(f"state store {safe_url(self.url)}: "
                             f"{describe_db_error(exc)}") from None

    def _file_identity(self) -> tuple[int, int] | None:
        if self._sqlite_file is None:
            return None
        try:
            stat = self._sqlite_file.stat()
        except FileNotFoundError:
            return None
        return stat.st_dev, stat.st_ino

    def _check_file(self, *, force: bool = False) -> None:
        """A SQLite file deleted or replaced under a run loses its bookkeeping: stop the run.

        A ``stat`` per transaction was 3 % of a sync's time, so it is asked at most every
        ``_CHECK_SECONDS`` (and always when ``force``: a run's last word is checked).
        """
        if self._identity is None:
            return
        at = time.monotonic()
        if not force and at - self._checked_at < _CHECK_SECONDS:
            return
        self._checked_at = at
        if self._file_identity() != self._identity:
            raise StateError(f"state store file {self._sqlite_file} was deleted or replaced "
                             "while this process used it; the run's bookkeeping is lost, so "
                             "the run stops")


def _sqlite_file(url: str) -> Path | None:
    if not url.startswith("sqlite"):
        return None
    database = url.split("///", 1)[1] if "///" in url else ""
    database = database.split("?", 1)[0]
    if not database or database == ":memory:":
        return None
    return Path(database)


@contextmanager
def _migration_lock(database: Path | None) -> Iterator[None]:
    if database is None:
        yield
        return
    with open(f"{database}.migrate-lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 60})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        return engine
    if url.startswith("postgres://"):
        raise StateError(f"state store {safe_url(url)}: use postgresql://, not postgres:// "
                         "(SQLAlchemy's name for the dialect)")
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return create_engine(url, pool_pre_ping=True)

