"""One emulator per system, seeded, with connectors wired to it in process (no sockets)."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi.testclient import TestClient
from pydantic import SecretStr

from offering_sync.connectors.http.auth import HeaderToken, OAuth2ClientCredentials
from offering_sync.connectors.http.client import HttpCaller
from offering_sync.connectors.rhythm import RhythmSettings, RhythmSource, RhythmTarget
from offering_sync.connectors.salesforce import SalesforceSettings, SalesforceSource
from offering_sync.connectors.smarterproctoring import (
    SmarterProctoringSettings,
    SmarterProctoringSource,
    SmarterProctoringTarget,
)
from offering_sync.emulators import digitalchalk, rhythm, salesforce, smarterproctoring
from tests.conftest import dc_source, fast_retry, sf_target

SOURCES = ("digitalchalk", "salesforce", "rhythm", "smarterproctoring")
TARGETS = ("salesforce", "rhythm", "smarterproctoring")


def _client(app, auth) -> TestClient:
    client = TestClient(app, base_url="http://testserver/", raise_server_exceptions=False)
    client.auth = auth
    return client


class System:
    """An emulator of ``name`` with ``records`` offerings and ways to look inside it."""

    def __init__(self, name: str, records: int = 0, **switches) -> None:
        """``switches`` go to the emulator's ``create_app`` (e.g. Rhythm's ``paging``)."""
        self.name = name
        if name == "digitalchalk":
            self.app = digitalchalk.create_app(digitalchalk.Catalog(records, seed=17), **switches)
        elif name == "salesforce":
            self.app = salesforce.create_app(**switches)
            salesforce.seed(self.app, records)
        elif name == "rhythm":
            self.app = rhythm.create_app(**switches)
            self.app.state.tenant.seed(records)
        else:
            self.app = smarterproctoring.create_app(**switches)
            self.app.state.install.seed(records)

    # -- connectors ---------------------------------------------------------------------------

    def source(self):
        if self.name == "digitalchalk":
            return dc_source(self.app)
        if self.name == "salesforce":
            return SalesforceSource(self._sf_caller(), SalesforceSettings(
                base_url="http://testserver", token=SecretStr("x")))
        if self.name == "rhythm":
            return RhythmSource(self._rhythm_caller(), self._rhythm_settings())
        return SmarterProctoringSource(self._sp_caller(), self._sp_settings())

    def target(self, batch_size: int = 50):
        if self.name == "salesforce":
            return sf_target(self.app, batch_size=batch_size)
        if self.name == "rhythm":
            return RhythmTarget(self._rhythm_caller(), self._rhythm_settings())
        return SmarterProctoringTarget(self._sp_caller(), self._sp_settings())

    def _sf_caller(self):
        auth = OAuth2ClientCredentials("http://testserver/services/oauth2/token",
                                       salesforce.DEMO_CLIENT_ID,
                                       SecretStr(salesforce.DEMO_CLIENT_SECRET))
        return HttpCaller(_client(self.app, auth), "salesforce", retry=fast_retry())

    def _rhythm_settings(self):
        return RhythmSettings(base_url="http://testserver", tenant_id=rhythm.DEMO_TENANT,
                              training_provider_id="prov-9")

    def _rhythm_caller(self):
        auth = OAuth2ClientCredentials("http://testserver/oauth/token", rhythm.DEMO_CLIENT_ID,
                                       SecretStr(rhythm.DEMO_CLIENT_SECRET), json_body=True,
                                       extra={"audience": rhythm.AUDIENCE})
        return HttpCaller(_client(self.app, auth), "rhythm", retry=fast_retry())

    def _sp_settings(self):
        return SmarterProctoringSettings(base_url="http://testserver",
                                         install_sid=smarterproctoring.DEMO_INSTALL,
                                         token=SecretStr(smarterproctoring.DEMO_TOKEN))

    def _sp_caller(self):
        auth = HeaderToken(SecretStr(smarterproctoring.DEMO_TOKEN), header="token", scheme=None)
        return HttpCaller(_client(self.app, auth), "smarterproctoring", retry=fast_retry())

    # -- looking inside -------------------------------------------------------------------------

    def stored(self) -> dict[str, dict]:
        """Offerings the emulator holds, by the system's own id."""
        if self.name == "salesforce":
            return dict(self.app.state.org.offerings)
        if self.name == "rhythm":
            return dict(self.app.state.tenant.records)
        if self.name == "smarterproctoring":
            return dict(self.app.state.install.offerings)
        return {r["id"]: r for r in self.app.state.catalog}

    def writes(self) -> int:
        if self.name == "salesforce":
            return self.app.state.posts
        return self.app.state.writes

    def rename(self, record_id: str, title: str) -> None:
        """Change one offering's title the way a user would in that system."""
        stamp = datetime.now(UTC)
        if self.name == "digitalchalk":
            self.app.state.catalog.edit(record_id, {"title": title})
        elif self.name == "salesforce":
            offering = self.app.state.org.offerings[record_id]
            offering["courseOfferingName"] = title
            offering["SystemModstamp"] = stamp.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+0000"
        elif self.name == "rhythm":
            record = self.app.state.tenant.records[record_id]
            record.update(name=title, sys_version=record["sys_version"] + 1,
                          sys_last_modified_at=stamp.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z")
        else:
            self.app.state.install.offerings[record_id].update(
                title=title, editDate=stamp.strftime("%Y-%m-%dT%H:%M:%S.000Z"))

    def edit_in_org(self, offering_id: str, **fields) -> None:
        """A person edits a Salesforce course offering (sObject PATCH: ``Name``, ``IsActive``…)."""
        caller = self._sf_caller()
        response = caller.client.patch(
            f"services/data/v66.0/sobjects/CourseOffering/{offering_id}", json=fields)
        assert response.status_code == 204, response.text

    def external_ids(self) -> list[str]:
        """Our key of every offering in a target."""
        if self.name == "salesforce":
            return [o["courseOfferingExternalId"]["fieldValue"] for o in self.stored().values()]
        if self.name == "rhythm":
            return [r.get("sys_external_id") for r in self.stored().values()]
        return [o["title"] for o in self.stored().values()]


def key_of(payload: dict) -> str:
    """Our external id inside a payload, whichever system it is for."""
    if "courseOffering" in payload:
        return str(payload["courseOffering"]["courseOfferingExternalId"]["fieldValue"])
    return str(payload.get("sys_external_id") or payload.get("_key"))


def write(target, payloads, *, overwrite: bool, target_ids=None, policy=None, versions=None):
    """``target.upsert`` with plain payloads, as the engine would wrap them."""
    from offering_sync.records import WritePolicy, WriteRequest

    ids = list(target_ids or [None] * len(payloads))
    known = list(versions or [None] * len(payloads))
    requests = [WriteRequest(key_of(p), {k: v for k, v in p.items() if k != "_key"}, tid,
                             target_version=v)
                for p, tid, v in zip(payloads, ids, known, strict=True)]
    return target.upsert(requests, overwrite=overwrite, policy=policy or WritePolicy())
