"""What the user typed, turned into values: dates, choices, pipeline names, the state store.

Every mistake here is a ``ConfigError`` (one sentence, exit status 2), raised before anything
is read or written.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from offering_sync.errors import ConfigError, StateError
from offering_sync.settings import CoreSettings, read_settings

if TYPE_CHECKING:
    from offering_sync.state import StateStore

__all__ = ["CONFLICTS", "DELETES", "choice", "core_settings", "known_pipeline", "open_store",
           "pipeline_name", "when"]

CONFLICTS = ("source-wins", "target-wins", "dead-letter")
DELETES = ("report", "deactivate", "delete")


def core_settings() -> CoreSettings:
    """The core settings; a bad value is one sentence naming the variable."""
    return read_settings(CoreSettings)


def when(text: str | None, name: str) -> datetime | None:
    """An ISO 8601 date or date-time; naive means UTC."""
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f"--{name} {text!r} is not an ISO 8601 date or date-time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def choice(value: str | None, option: str, allowed: tuple[str, ...]) -> str | None:
    """``value`` if it is one of ``allowed`` (or None)."""
    if value is not None and value not in allowed:
        raise ConfigError(f"{option} {value!r} is not one of {', '.join(allowed)}")
    return value


def pipeline_name(value: str | None) -> str | None:
    """``digitalchalk:rhythm`` or ``digitalchalk->rhythm`` (the shell eats a bare ``>``)."""
    if value is None:
        return None
    return value.replace(":", "->") if "->" not in value else value


def known_pipeline(store: StateStore, value: str | None) -> str | None:
    """The pipeline ``value`` names, refused when it never ran here (a typo is not 'nothing')."""
    name = pipeline_name(value)
    if name is None:
        return None
    known = store.pipelines()
    if name not in known:
        shown = ", ".join(k.replace("->", ":") for k in known) or "none yet"
        raise ConfigError(f"no pipeline {value!r} has run here; known: {shown}")
    return name


def open_store(settings: CoreSettings) -> StateStore:
    """The state store; one that cannot be opened is a set-up problem (exit status 2).

    It also becomes the token cache of every connector built after it, so tokens outlive the
    run (encrypted; see ``offering_sync/state/token_cache.py``).
    """
    try:
        from offering_sync.app.compose import keep_tokens_in
        from offering_sync.state import StateStore

        store = StateStore(settings.state_url)
        keep_tokens_in(store)
        return store
    except StateError as exc:
        raise ConfigError(f"{exc} (OFFERING_SYNC_STATE_URL)") from None
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith("psycopg"):
            raise ConfigError("a PostgreSQL state store needs its driver: pip install "
                              "'offering-sync[postgres]' (OFFERING_SYNC_STATE_URL)") from None
        raise
