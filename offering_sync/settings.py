"""Core settings (state store, files, run rules), read from ``OFFERING_SYNC_*`` and ``.env``.

Per-system connection settings live beside each connector; this module holds only what the
engine itself needs, so the core never knows a vendor. ``read_settings`` turns a bad value into
one sentence naming the variable, the value and what is allowed, never a pydantic traceback.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from offering_sync.errors import ConfigError

__all__ = ["CoreSettings", "read_settings"]

S = TypeVar("S", bound=BaseSettings)


class CoreSettings(BaseSettings):
    """Settings every run needs, whatever the systems."""

    model_config = SettingsConfigDict(env_prefix="OFFERING_SYNC_", env_file=".env",
                                      extra="ignore", env_ignore_empty=True)

    state_url: str = Field(default="sqlite:///offering-sync.db",
                           description="SQLAlchemy URL of the state store (SQLite file or "
                           "postgresql://user@host/db).")
    mappings_dir: Path | None = Field(
        default=None, description="A folder of your own mapping files: each one replaces the "
        "bundled file of the same name; the rest fall back to the bundled ones.")
    crosswalks_file: Path | None = Field(
        default=None, description="YAML of crosswalk tables, merged over the bundled ones "
        "table by table.")
    max_failure_ratio: float = Field(
        default=0.5, ge=0, le=1,
        description="A run whose failed/extracted share passes this ends failed.")
    lock_ttl_seconds: float = Field(
        default=300, gt=0, description="A lock held from another host is recovered once its "
        "heartbeat has been silent this long.")
    on_conflict: Literal["source-wins", "target-wins", "dead-letter"] = Field(
        default="source-wins", description="What to do when the target was edited since our "
        "last write.")
    on_delete: Literal["report", "deactivate", "delete"] = Field(
        default="report", description="What to do with linked offerings the source no longer "
        "lists.")
    max_delete_ratio: float = Field(
        default=0.1, ge=0, le=1, description="Refuse to deactivate or delete when more than "
        "this share of linked offerings is missing (an outage looks like a mass delete).")
    max_attempts: int = Field(
        default=10, ge=1, description="Failed records are retried by later runs (after 1, 2, "
        "4 … runs) and parked after this many attempts.")
    log_retention_days: float = Field(
        default=90, gt=0, description="Days the per-record sync log is kept.")

    def options(self, **given: Any) -> Any:
        """``SyncOptions`` for one run: these settings, overridden by ``given``."""
        from offering_sync.engine import SyncOptions

        rules: dict[str, Any] = {"lock_ttl_seconds": self.lock_ttl_seconds,
                 "max_failure_ratio": self.max_failure_ratio, "on_conflict": self.on_conflict,
                 "on_delete": self.on_delete, "max_delete_ratio": self.max_delete_ratio,
                 "max_attempts": self.max_attempts,
                 "log_retention_days": self.log_retention_days}
        rules.update({k: v for k, v in given.items() if v is not None})
        return SyncOptions(**rules)


def read_settings(cls: type[S], **values: Any) -> S:
    """Build a settings class from the environment; a bad value is one ``ConfigError``."""
    try:
        return cls(**values)
    except ValidationError as exc:
        raise ConfigError(_sentence(cls, exc)) from None


def _sentence(cls: type[BaseSettings], exc: ValidationError) -> str:
    prefix = str(cls.model_config.get("env_prefix", ""))
    problems = []
    for error in exc.errors(include_url=False):
        name = ".".join(str(part) for part in error["loc"]) or "?"
        value = error.get("input")
        shown = "" if isinstance(value, dict) else f"={str(value)[:60]!r}"
        allowed = error["msg"].removeprefix("Value error, ")
        problems.append(f"{prefix}{name.upper()}{shown}: {allowed}")
    return "bad setting: " + "; ".join(problems)
