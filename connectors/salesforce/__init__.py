"""Salesforce Education Cloud: bulk course-offering target, CourseOffering source, lookups, check.

One module per job: ``settings`` (login URL, instance, the flows' credentials), ``connection``
(settings → OAuth flow → caller), ``query`` (typed SOQL, safe paging), ``target`` (the Connect
REST bulk POST), ``source`` (REST query), ``check`` (``offering-sync check``). The target also
answers mapping lookups (``lookup_rows``): one SOQL query per lookup per run.
"""

from __future__ import annotations

from offering_sync.connectors import MAPPINGS_DIR
from offering_sync.connectors.salesforce.check import DESCRIBE, LIMITS, VERSIONS, check
from offering_sync.connectors.salesforce.connection import TOKEN, build_auth
from offering_sync.connectors.salesforce.query import QUERY
from offering_sync.connectors.salesforce.settings import (
    DEFAULT_BATCH,
    SalesforceSettings,
    mapping_settings,
)
from offering_sync.connectors.salesforce.source import RECORD_FIELDS, SalesforceSource
from offering_sync.connectors.salesforce.target import (
    COURSE_OFFERING_POST,
    PAYLOAD_FIELDS,
    SOBJECT_DELETE,
    SalesforceTarget,
)
from offering_sync.plugin import SystemSpec

__all__ = ["DEFAULT_BATCH", "PAYLOAD_FIELDS", "RECORD_FIELDS", "SYSTEM", "SalesforceSettings",
           "SalesforceSource", "SalesforceTarget", "build_auth", "mapping_settings"]


SYSTEM = SystemSpec(
    slug="salesforce", title="Salesforce Education Cloud", settings_class=SalesforceSettings,
    make_source=SalesforceSource.from_settings, make_target=SalesforceTarget.from_settings,
    mapping_settings=mapping_settings, mappings_dir=MAPPINGS_DIR, record_fields=RECORD_FIELDS,
    payload_fields=PAYLOAD_FIELDS,
    api_calls=(TOKEN, COURSE_OFFERING_POST, QUERY, SOBJECT_DELETE, VERSIONS, DESCRIBE, LIMITS),
    secrets=("client_id", "client_secret", "token", "private_key", "refresh_token"),
    check=check,
    retire={"deactivate": "`isActive=false` through the same bulk POST (`overwrite=true`; the "
                          "session, course, name and start date are read back first), true "
                          "again when it returns",
            "delete": "sObject `DELETE …/sobjects/CourseOffering/{id}` (our reading), "
                      "re-created when it returns"})
