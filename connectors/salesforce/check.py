"""``offering-sync check salesforce``: can this org be synced, and if not, what to fix.

Read-only, in the order a person would debug: settings → token (flow, login URL, the instance
the token response named) → the API version exists (``GET /services/data/``) → the objects and
fields the connector and the bundled mapping's lookups use (``sobjects/X/describe``), including
the external-ID field → one SOQL read → the daily API quota (``/limits``, else the
``Sforce-Limit-Info`` header). No call writes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from offering_sync.connectors.http.check import token_check
from offering_sync.connectors.http.client import HttpCaller
from offering_sync.connectors.http.retry import RetryPolicy
from offering_sync.connectors.salesforce.connection import FLOW_NAMES, make_salesforce_caller
from offering_sync.connectors.salesforce.query import query_pages, select
from offering_sync.connectors.salesforce.settings import SalesforceSettings, env
from offering_sync.connectors.salesforce.source import RECORD_FIELDS
from offering_sync.errors import ConfigError, ConnectorError, Rejected
from offering_sync.plugin import ApiCall, Check
from offering_sync.settings import read_settings

__all__ = ["DESCRIBE", "LIMITS", "LOOKUP_FIELDS", "VERSIONS", "check"]

VERSIONS = ApiCall("GET", "services/data/", doc="api_rest resources-versions",
                   note="check: the API version exists")
DESCRIBE = ApiCall("GET", "services/data/v{version}/sobjects/{sobject}/describe",
                   doc="api_rest resources-sobject-describe",
                   note="check: CourseOffering, AcademicSession, LearningCourse fields")
LIMITS = ApiCall("GET", "services/data/v{version}/limits", doc="api_rest resources-limits",
                 note="check: DailyApiRequests remaining")
CONNECT_MIN_VERSION = 64.0  # the course-offering resource: "Available version 64.0"
# What the bundled mapping's lookups read (mappings/canonical_to_salesforce.yaml).
LOOKUP_FIELDS: Mapping[str, frozenset[str]] = {
    "AcademicSession": frozenset({"Id", "ClassStartDate", "ClassEndDate"}),
    "LearningCourse": frozenset({"Id", "CourseNumber"}),
}
SYSTEM = "salesforce"


def _line(name: str, ok: bool, detail: str, fix: str = "") -> Check:
    return Check(SYSTEM, name, ok, detail, fix)


def check(settings: SalesforceSettings | None = None, *, http: HttpCaller | None = None,
          needs: Mapping[str, frozenset[str]] = LOOKUP_FIELDS) -> list[Check]:
    """Every check line for the org the settings point at (``http`` injected in tests)."""
    try:
        settings = settings or read_settings(SalesforceSettings)
    except ConfigError as exc:
        return [_line("settings", False, str(exc), "fix the value named above")]
    own = http is None
    try:
        http = http or make_salesforce_caller(settings, SYSTEM, RetryPolicy(attempts=2))
    except ConfigError as exc:
        return [_line("credentials", False, str(exc), "set or correct the settings named above")]
    flow = settings.flow or "client_credentials"
    lines = [_line("settings", True, f"{FLOW_NAMES[flow]} flow, login URL {settings.login_url}")]
    try:
        token = token_check(SYSTEM, http.client.auth, http.client, FLOW_NAMES[flow])
        if token is not None:
            lines.append(token)
            if not token.ok:
                return lines
        for step in (_version, _objects, _read, _quota):
            found = step(http, settings, needs)
            lines.extend(found)
            if step is _version and not all(c.ok for c in found):
                break
    finally:
        if own:
            http.client.close()
    return lines


def _attempt(name: str, fix: str, run: Any) -> list[Check]:
    try:
        return list(run())
    except (ConfigError, ConnectorError) as exc:
        return [_line(name, False, str(exc), fix)]


def _version(http: HttpCaller, settings: SalesforceSettings, _needs: Any) -> list[Check]:
    def run() -> list[Check]:
        body = http.json(http.send("GET", VERSIONS.path, idempotent=True))
        offered = sorted({str(v.get("version")) for v in body if isinstance(v, dict)},
                         key=lambda v: float(v) if v.replace(".", "", 1).isdigit() else 0.0)
        want = settings.api_version
        if want not in offered:
            newest = offered[-1] if offered else "none"
            return [_line("api version", False, f"v{want} is not offered by this org (newest: "
                          f"v{newest})", f"set {env('api_version')} to {newest}")]
        if float(want) < CONNECT_MIN_VERSION:
            return [_line("api version", False, f"v{want} is older than v{CONNECT_MIN_VERSION}, "
                          "where the course-offering resource starts",
                          f"set {env('api_version')} to {offered[-1]}")]
        return [_line("api version", True, f"v{want} offered (newest v{offered[-1]})")]
    return _attempt("api version", f"check {env('login_url')} and the token", run)


def _describe(http: HttpCaller, settings: SalesforceSettings, sobject: str,
              ) -> dict[str, dict[str, Any]]:
    path = DESCRIBE.url(version=settings.api_version, sobject=sobject)
    body = http.json(http.send("GET", path, idempotent=True))
    return {str(f.get("name")): f for f in body.get("fields") or [] if isinstance(f, dict)}


def _objects(http: HttpCaller, settings: SalesforceSettings,
             needs: Mapping[str, frozenset[str]]) -> list[Check]:
    wanted: dict[str, set[str]] = {"CourseOffering": set(RECORD_FIELDS)}
    for sobject, fields in needs.items():
        wanted.setdefault(sobject, set()).update(fields)
    lines = []
    for sobject, names in wanted.items():
        lines.extend(_object(http, settings, sobject, names))
    return lines


def _object(http: HttpCaller, settings: SalesforceSettings, sobject: str,
            fields: set[str]) -> list[Check]:
    name = f"describe {sobject}"
    grant = (f"give the integration user's permission set Read on {sobject} and its fields "
             "(Education Cloud must be enabled in the org)")
    try:
        described = _describe(http, settings, sobject)
    except Rejected as exc:
        if exc.status == 404:
            return [_line(name, False, f"{sobject} is not in this org or not visible to the "
                          "integration user", grant)]
        return [_line(name, False, str(exc), grant)]
    except (ConfigError, ConnectorError) as exc:
        return [_line(name, False, str(exc), grant)]
    missing = sorted(fields - set(described))
    lines = [_line(name, not missing,
                   f"{len(fields)} fields used, all visible" if not missing else
                   f"fields missing or not visible: {', '.join(missing)}",
                   "" if not missing else f"grant field-level Read on {', '.join(missing)}")]
    if sobject == "CourseOffering":
        ext = described.get(settings.external_id_field)
        if ext is None:
            lines.append(_line("external id field", False,
                               f"CourseOffering has no field {settings.external_id_field}",
                               f"create it as a Text field marked External ID, or set "
                               f"{env('external_id_field')} to the one you have"))
        elif not ext.get("externalId"):
            lines.append(_line("external id field", False,
                               f"CourseOffering.{settings.external_id_field} is not marked "
                               "External ID", "tick External ID (and Unique) on the field"))
        else:
            lines.append(_line("external id field", True,
                               f"CourseOffering.{settings.external_id_field} is an external ID"))
    return lines


def _read(http: HttpCaller, settings: SalesforceSettings, _needs: Any) -> list[Check]:
    def run() -> list[Check]:
        records, _ = next(iter(query_pages(http, settings,
                                           select("CourseOffering", ["Id"], limit=1))))
        return [_line("read", True, f"SOQL read of CourseOffering ({len(records)} record"
                      f"{'' if len(records) == 1 else 's'})")]
    return _attempt("read", "give the integration user Read on CourseOffering", run)


def _quota(http: HttpCaller, settings: SalesforceSettings, _needs: Any) -> list[Check]:
    def run() -> list[Check]:
        response = http.send("GET", LIMITS.url(version=settings.api_version), idempotent=True)
        body = http.json(response)
        daily = body.get("DailyApiRequests") if isinstance(body, dict) else None
        if isinstance(daily, dict) and daily.get("Max"):
            cap, left = int(daily["Max"]), int(daily.get("Remaining", 0))
        else:
            import re

            match = re.search(r"api-usage=(\d+)/(\d+)", response.headers.get("Sforce-Limit-Info",
                                                                             ""))
            if not match:
                return [_line("api quota", False, "the org reported no daily API limit",
                              "give the integration user the View Setup permission")]
            used, cap = int(match.group(1)), int(match.group(2))
            left = cap - used
        share = (cap - left) / cap if cap else 1.0
        ok = share < settings.quota_stop_ratio
        detail = f"{left:,} of {cap:,} daily API requests left ({share:.0%} used)"
        fix = "" if ok else (f"wait for the 24-hour window to roll over, or raise "
                             f"{env('quota_stop_ratio')} (now {settings.quota_stop_ratio})")
        return [_line("api quota", ok, detail, fix)]
    return _attempt("api quota", "the /limits resource needs the View Setup permission", run)
