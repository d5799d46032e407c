"""Connectors, one module per system, and the registry that names them (the only list of systems).

``build_source(slug)`` / ``build_target(slug)`` read each system's settings from the environment
and return a ready connector; ``SYSTEMS`` says which directions each system supports.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from offering_sync.errors import ConfigError
from offering_sync.records import Source, Target

__all__ = ["SYSTEMS", "SystemInfo", "build_source", "build_target", "system"]


@dataclass(frozen=True)
class SystemInfo:
    """What one system offers offering-sync."""

    slug: str
    title: str
    make_source: Callable[[], Source] | None
    make_target: Callable[[], Target] | None
    mapping_settings: Callable[[], dict[str, Any]]
    note: str = ""
    record_fields: frozenset[str] | None = None
    payload_fields: frozenset[str] | None = None
    api_calls: tuple[str, ...] = ()
    settings_class: type | None = None


def _digitalchalk() -> SystemInfo:
    from connectors import digitalchalk

    return SystemInfo(
        "digitalchalk", "DigitalChalk (API v5)", digitalchalk.DigitalChalkSource.from_settings,
        None, dict, note="source only: the v5 API has no endpoints that write offerings",
        record_fields=digitalchalk.RECORD_FIELDS,
        api_calls=("GET {base}/offerings?limit=100&offset=… (+createdDate, title, tag, "
                   "offeringCategoryId)",),
        settings_class=digitalchalk.DigitalChalkSettings)


def _salesforce() -> SystemInfo:
    from connectors import salesforce

    return SystemInfo(
        "salesforce", "Salesforce Education Cloud", salesforce.SalesforceSource.from_settings,
        salesforce.SalesforceTarget.from_settings, salesforce.mapping_settings,
        record_fields=salesforce.RECORD_FIELDS, payload_fields=salesforce.PAYLOAD_FIELDS,
        api_calls=("POST {base}/services/oauth2/token (client credentials)",
                   "POST {base}/services/data/v{ver}/connect/education/academic-operations/"
                   "course-offering?overwrite=false|true",
                   "GET {base}/services/data/v{ver}/query?q=SELECT … FROM CourseOffering, then "
                   "nextRecordsUrl"),
        settings_class=salesforce.SalesforceSettings)


def _rhythm() -> SystemInfo:
    from connectors import rhythm

    return SystemInfo(
        "rhythm", "Rhythm (Certifications API)", rhythm.RhythmSource.from_settings,
        rhythm.RhythmTarget.from_settings, rhythm.mapping_settings,
        record_fields=rhythm.RECORD_FIELDS, payload_fields=rhythm.PAYLOAD_FIELDS,
        api_calls=("POST {auth_url} (Auth0 client credentials, audience api.rhythmsoftware.com)",
                   "GET {base}/courseOfferings/{tenant}?fields=…&exclusiveStartKey=…",
                   "POST {base}/courseOfferings/{tenant}/search (sys_last_modified_at)",
                   "POST {base}/courseOfferings/{tenant}",
                   "GET {base}/courseOfferings/{tenant}/{id}?fields=sys_version&consistentRead"
                   "=true, PUT {base}/courseOfferings/{tenant}/{id}"),
        settings_class=rhythm.RhythmSettings)


def _smarterproctoring() -> SystemInfo:
    from connectors import smarterproctoring as sp

    return SystemInfo(
        "smarterproctoring", "SmarterProctoring", sp.SmarterProctoringSource.from_settings,
        sp.SmarterProctoringTarget.from_settings, dict, record_fields=sp.RECORD_FIELDS,
        payload_fields=sp.PAYLOAD_FIELDS | {sp.KEY_FIELD},
        api_calls=("GET {base}/v1/installs/{installSid}/courseOfferings?offset=…&limit=100",
                   "POST {base}/v1/installs/{installSid}/courseOfferings",
                   "PUT {base}/v1/installs/{installSid}/courseOfferings/{offeringSid}"),
        settings_class=sp.SmarterProctoringSettings)


_FACTORIES: dict[str, Callable[[], SystemInfo]] = {
    "digitalchalk": _digitalchalk,
    "salesforce": _salesforce,
    "rhythm": _rhythm,
    "smarterproctoring": _smarterproctoring,
}
SYSTEMS: tuple[str, ...] = tuple(_FACTORIES)


def system(slug: str) -> SystemInfo:
    """The system named ``slug``, or a ``ConfigError`` listing the known ones."""
    factory = _FACTORIES.get(slug)
    if factory is None:
        raise ConfigError(f"unknown system {slug!r}; known systems: {', '.join(SYSTEMS)}")
    return factory()


def build_source(slug: str) -> Source:
    """A source connector for ``slug`` configured from the environment."""
    info = system(slug)
    if info.make_source is None:
        raise ConfigError(f"{slug} cannot be a source ({info.note or 'no read API'})")
    return info.make_source()


def build_target(slug: str) -> Target:
    """A target connector for ``slug`` configured from the environment."""
    info = system(slug)
    if info.make_target is None:
        raise ConfigError(f"{slug} cannot be a target ({info.note or 'no write API'})")
    return info.make_target()
