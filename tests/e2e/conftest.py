"""End-to-end helpers: a pipeline DigitalChalk emulator → Salesforce emulator, in process."""

from __future__ import annotations

import pytest

from offering_sync.app.compose import build_pipeline
from offering_sync.emulators import digitalchalk, salesforce, server
from offering_sync.emulators import digitalchalk as dc_emulator
from offering_sync.emulators import salesforce as sf_emulator
from offering_sync.settings import CoreSettings
from tests.conftest import dc_source, sf_target
from tests.faults.test_sigkill import _env as sockets_env


class World:
    """Two emulators, their connectors, and a way to build the pipeline between them."""

    def __init__(self, records: int, **sf_kwargs) -> None:
        self.catalog = dc_emulator.Catalog(records, seed=11)
        self.dc_app = dc_emulator.create_app(self.catalog)
        self.sf_app = sf_emulator.create_app(**sf_kwargs)

    def pipeline(self, *, batch_size: int = 50, page_size: int = 100, retry=None):
        return build_pipeline(
            "digitalchalk", "salesforce", CoreSettings(),
            source_connector=dc_source(self.dc_app, page_size=page_size, retry=retry),
            target_connector=sf_target(self.sf_app, batch_size=batch_size, retry=retry))

    @property
    def offerings(self) -> list[dict]:
        return list(self.sf_app.state.org.offerings.values())

    def external_ids(self) -> list[str]:
        return [o["courseOfferingExternalId"]["fieldValue"] for o in self.offerings]


@pytest.fixture
def livesockets_env(tmp_path):
    catalog = digitalchalk.Catalog(40, seed=3)
    sf_app = salesforce.create_app()
    with server.serve_in_thread(digitalchalk.create_app(catalog)) as dc, \
            server.serve_in_thread(sf_app) as sf:
        yield sockets_env(dc.url, sf.url, f"sqlite:///{tmp_path / 'cli.db'}"), catalog, sf_app


@pytest.fixture
def world():
    return World(120)


@pytest.fixture
def live_env(tmp_path):
    """DigitalChalk (40 offerings) and Salesforce emulators on real sockets, and the CLI's env."""
    catalog = digitalchalk.Catalog(40, seed=3)
    sf_app = salesforce.create_app()
    with server.serve_in_thread(digitalchalk.create_app(catalog)) as dc, \
            server.serve_in_thread(sf_app) as sf:
        yield sockets_env(dc.url, sf.url, f"sqlite:///{tmp_path / 'cli.db'}"), catalog, sf_app
