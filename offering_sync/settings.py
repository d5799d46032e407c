"""Core settings (state store, batching, files), read from ``OFFERING_SYNC_*`` and ``.env``.

Per-system connection settings live beside each connector; this module holds only what the
engine itself needs, so the core never knows a vendor.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["CoreSettings"]


class CoreSettings(BaseSettings):
    """Settings every run needs, whatever the systems."""

    model_config = SettingsConfigDict(env_prefix="OFFERING_SYNC_", env_file=".env",
                                      extra="ignore")

    state_url: str = Field(default="sqlite:///offering-sync.db",
                           description="SQLAlchemy URL of the state store.")
    mappings_dir: Path | None = Field(
        default=None, description="A folder of your own mapping files: each one replaces the "
        "bundled file of the same name; the rest fall back to the bundled ones.")
    crosswalks_file: Path | None = Field(
        default=None, description="YAML of crosswalk tables, merged over the bundled ones "
        "table by table.")
    max_failure_ratio: float = Field(
        default=0.5, ge=0, le=1,
        description="a run whose failed/extracted share passes this ends failed")
    lock_ttl_seconds: float = Field(default=300, gt=0)
