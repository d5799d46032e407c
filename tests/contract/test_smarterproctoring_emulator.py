"""The SmarterProctoring emulator holds to the vendor's docs where they are clear."""

import pytest
from fastapi.testclient import TestClient

from offering_sync.emulators import smarterproctoring as sp

BASE = f"/v1/installs/{sp.DEMO_INSTALL}/courseOfferings"
AUTH = {"token": sp.DEMO_TOKEN}


class Clock:
    now = 1_790_000_000.0

    def __call__(self) -> float:
        return self.now


def emulator(records: int = 0, **switches):
    clock = Clock()
    app = sp.create_app(sp.Install(clock=clock), **switches)
    app.state.install.seed(records)
    client = TestClient(app)
    client.headers.update(AUTH)
    return app, client, clock


def test_the_list_envelope_pages_with_offset_and_limit():
    _, client, _ = emulator(7)
    first = client.get(BASE, params={"limit": 3, "offset": ""}).json()
    assert set(first) == {"total", "first", "next", "prev", "last", "count", "offset", "results"}
    assert (first["total"], first["count"], first["offset"], first["prev"]) == (7, 3, 0, None)
    last = client.get(first["last"]).json()
    assert last["count"] == 1 and last["next"] is None and last["prev"]


def test_create_returns_the_offering_with_its_sid_and_match_strings_as_a_list():
    app, client, _ = emulator()
    created = client.post(BASE, json={"title": "Fall 2026", "matchStrings": "FA26,Fall 2026"})
    body = created.json()
    assert created.status_code == 200 and body["sid"].startswith("CO")
    assert body["matchStrings"] == ["FA26", "Fall 2026"]
    assert client.get(f"{BASE}/{body['sid']}").json() == body


def test_put_replaces_everything_and_keeps_only_the_creation_date():
    app, client, clock = emulator(1)
    sid = next(iter(app.state.install.offerings))
    before = dict(app.state.install.offerings[sid])
    clock.now += 3600
    after = client.put(f"{BASE}/{sid}", json={"title": "New", "matchStrings": "N"}).json()
    assert after["createdDate"] == before["createdDate"]
    assert after["editDate"] > before["editDate"]
    assert after["lastActivityDate"] == after["editDate"]
    assert (after["startDate"], after["endDate"], after["matchStrings"]) == (None, None, ["N"])


@pytest.mark.parametrize("body,message", [
    ({"matchStrings": "a"}, '"title" is required'),
    ({"title": "t"}, '"matchStrings" is required'),
    ({"title": "t", "matchStrings": ["a", "b"]}, '"matchStrings" must be a string'),
    ({"title": "", "matchStrings": "a"}, '"title" is not allowed to be empty'),
    ({"title": "t", "matchStrings": "a", "sid": "CO" + "0" * 32}, '"sid" is not allowed'),
])
def test_put_needs_title_and_match_strings_as_documented(body, message):
    app, client, _ = emulator(1)
    sid = next(iter(app.state.install.offerings))
    answer = client.put(f"{BASE}/{sid}", json=body)
    assert answer.status_code == 400
    assert answer.json() == {"statusCode": 400, "error": "Bad Request", "message": message}


def test_unknown_keys_can_be_ignored_instead():
    app, client, _ = emulator(1, unknown_keys="ignore")
    sid = next(iter(app.state.install.offerings))
    answer = client.put(f"{BASE}/{sid}", json={"title": "t", "matchStrings": "a", "sid": sid})
    assert answer.status_code == 200


def test_delete_removes_the_offering():
    app, client, _ = emulator(2)
    sid = next(iter(app.state.install.offerings))
    assert client.delete(f"{BASE}/{sid}").json()["sid"] == sid
    assert client.get(f"{BASE}/{sid}").status_code == 404
    assert len(app.state.install.offerings) == 1


def test_a_missing_or_wrong_token_is_a_boom_401():
    _, client, _ = emulator()
    assert client.get(BASE, headers={"token": "nope"}).json()["statusCode"] == 401
    del client.headers["token"]
    assert client.get(BASE).json() == {"statusCode": 401, "error": "Unauthorized",
                                       "message": "Missing authentication"}


def test_hand_made_offerings_include_same_title_months_and_custom_match_strings():
    app, _, _ = emulator()
    made = app.state.install.seed_hand_made()
    offerings = app.state.install.offerings
    assert offerings[made["cpr_october"]]["title"] == offerings[made["cpr_november"]]["title"]
    assert offerings[made["cpr_october"]]["startDate"] != offerings[made["cpr_november"]][
        "startDate"]
    assert offerings[made["acls"]]["matchStrings"] == ["ACLS", "ACLS-2026"]


def test_create_status_is_a_switch():
    _, client, _ = emulator(create_status=201)
    assert client.post(BASE, json={"title": "t", "matchStrings": "t"}).status_code == 201
