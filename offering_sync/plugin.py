"""What a system plugin declares: ``SystemSpec``, and ``ApiCall`` for each vendor call it makes.

A system is any installed package that lists a ``SystemSpec`` under the entry-point group
``offering_sync.systems`` (see pyproject.toml). The core defines the shape and never names a
system; the composition root (``offering_sync.app``) reads the entry points. An ``ApiCall`` is
both the path a connector calls and the README's record of it, with the vendor's doc reference
and whether the vendor documents it or it is our reading, so the two cannot drift.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

from offering_sync.records import Source, Target

__all__ = ["ENTRY_POINT_GROUP", "ApiCall", "Check", "SystemSpec", "segment"]

ENTRY_POINT_GROUP = "offering_sync.systems"


@dataclass(frozen=True, slots=True)
class ApiCall:
    """One vendor call: method, path template, where the vendor says so, and how sure we are.

    ``basis`` is ``documented`` when the vendor's docs state the call as we make it, and
    ``reading`` when the docs are silent or contradictory and this is our interpretation.
    """

    method: str
    path: str
    doc: str
    basis: Literal["documented", "reading"] = "documented"
    note: str = ""

    def url(self, **parts: Any) -> str:
        """The path with each ``{placeholder}`` filled in as exactly one path segment.

        Values are percent-encoded (``/``, ``?``, ``#``, spaces, non-ASCII), and a value of
        ``.`` or ``..`` has its dots encoded too, so a tenant id or record id can neither walk
        the path (``a/../b``) nor start a query string (``a?x=1``).
        """
        return self.path.format(**{name: segment(value) for name, value in parts.items()})

    def describe(self) -> str:
        """One line for the README: method, path and (for a reading) that it is ours."""
        where = self.path if self.path.startswith(("{", "http")) else "{base}/" + self.path
        text = f"{self.method} {where}"
        if self.note:
            text += f" ({self.note})"
        return text


def segment(value: Any) -> str:
    """``value`` as one URL path segment: percent-encoded, dot segments included."""
    text = quote(str(value), safe="")
    return text.replace(".", "%2E") if text in (".", "..") else text


@dataclass(frozen=True, slots=True)
class Check:
    """One line of ``offering-sync check``: what was tried, whether it passed, what to fix."""

    system: str
    name: str
    ok: bool
    detail: str
    fix: str = ""


@dataclass(frozen=True)
class SystemSpec:
    """Everything offering-sync needs to know about one system, declared by its plugin."""

    slug: str
    title: str
    settings_class: type[Any]
    make_source: Callable[[], Source] | None = None
    make_target: Callable[[], Target] | None = None
    mapping_settings: Callable[[], Mapping[str, Any]] = dict
    mappings_dir: Path | None = None
    """Folder holding ``<slug>_to_canonical.yaml`` and/or ``canonical_to_<slug>.yaml``."""
    record_fields: frozenset[str] | None = None
    """Fields the vendor documents on a source record (others are allowed, with a warning)."""
    payload_fields: frozenset[str] | None = None
    """Fields a target payload may carry."""
    api_calls: tuple[ApiCall, ...] = ()
    secrets: tuple[str, ...] = ()
    """Setting names holding credentials (Prefect Secret blocks ``<slug>-<setting>``)."""
    note: str = ""
    """Why a direction is missing, e.g. a read-only API."""
    retire: Mapping[str, str] = field(default_factory=dict)
    """What each policy for offerings gone from the source does in this target
    (``deactivate``/``delete`` → one sentence); a policy not listed is refused for it."""
    check: Callable[[], list[Check]] | None = None
    """Read-only connection check: token, one read, what the mappings need."""
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def env_prefix(self) -> str:
        """``OFFERING_SYNC_<SLUG>_``: the prefix of this system's settings."""
        return f"OFFERING_SYNC_{self.slug.upper()}_"

    @property
    def directions(self) -> tuple[str, ...]:
        """``source`` and/or ``target``, as far as the plugin supplies connectors."""
        return tuple(d for d, f in (("source", self.make_source), ("target", self.make_target))
                     if f is not None)
