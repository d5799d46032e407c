"""Credentials from Prefect ``Secret`` blocks when present, else from the environment.

A block named ``<system>-<setting>`` (e.g. ``salesforce-client-secret``) supplies
``OFFERING_SYNC_<SYSTEM>_<SETTING>`` for this flow run's process only. Values never appear in
parameters, logs or artifacts: they go straight into the process environment the connectors
read, and are registered with the redactor.
"""

from __future__ import annotations

import os
from typing import Any, cast

from prefect.blocks.system import Secret

from offering_sync.app import registry
from offering_sync.redact import register_secret

__all__ = ["load_secret_blocks"]


def load_secret_blocks(*systems: str) -> list[str]:
    """Copy every existing credential block of ``systems`` into the environment; returns names."""
    found = []
    for system in systems:
        for setting in registry.system(system).secrets:
            name = f"{system}-{setting.replace('_', '-')}"
            try:
                block = cast("Secret[Any]", Secret.load(name))
            except ValueError:  # no such block: the environment supplies it
                continue
            value = block.get()
            register_secret(str(value))
            os.environ[f"OFFERING_SYNC_{system.upper()}_{setting.upper()}"] = str(value)
            found.append(name)
    return found
