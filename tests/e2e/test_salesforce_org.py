"""A Salesforce org connected as a user would: `offering-sync check` and a DigitalChalk →
Salesforce sync through the real CLI, against an org served on a login port and an instance
port, with sessions and courses found by lookups and no crosswalk file."""

import json
import os
import subprocess
import sys
from collections import Counter
from datetime import datetime

import pytest

from offering_sync.app.compose import build_pipeline
from offering_sync.emulators import digitalchalk, salesforce, server
from offering_sync.emulators.salesforce.org import DEFAULT_COURSE_NUMBER
from offering_sync.engine import sync_pipeline
from offering_sync.settings import CoreSettings
from offering_sync.state import StateStore
from tests.conftest import dc_source, sf_target


def run(*args, env):
    return subprocess.run([sys.executable, "-c", "from offering_sync.app.cli import main; main()",
                           *args], env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture
def org_env(tmp_path):
    """The demo catalog, and an org on two ports; the env a user would export."""
    catalog = digitalchalk.Catalog(200)  # what `offering-sync demo` syncs
    app = salesforce.create_app()
    login, instance = salesforce.serve_org(app)
    dc = server.start(digitalchalk.create_app(catalog))
    env = {k: v for k, v in os.environ.items() if not k.startswith("OFFERING_SYNC_")}
    env.update({**server.connection_env("digitalchalk", dc.url),
                **server.connection_env("salesforce", login.url),
                "OFFERING_SYNC_STATE_URL": f"sqlite:///{tmp_path / 'state.db'}"})
    yield env, catalog, app, instance.url
    for running in (login, instance, dc):
        running.stop()


def test_check_passes_on_a_good_org_and_writes_nothing(org_env):
    env, _catalog, app, instance = org_env
    result = run("check", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert all(line.startswith("✓") for line in lines), lines
    text = result.stdout
    assert f"instance {instance}" in text and "v66.0 offered" in text
    for expected in ("describe CourseOffering", "describe AcademicSession",
                     "describe LearningCourse", "OfferingSyncExternalId__c is an external ID",
                     "SOQL read of CourseOffering", "daily API requests left",
                     "digitalchalk · read: read page 1"):
        assert expected in text, expected
    assert app.state.posts == 0 and app.state.org.offerings == {}


def test_check_fails_with_exit_2_and_says_what_to_fix(org_env):
    env, _catalog, app, _ = org_env
    wrong = {**env, "OFFERING_SYNC_SALESFORCE_CLIENT_SECRET": "not-the-secret-4711"}
    result = run("check", "salesforce", env=wrong)
    assert result.returncode == 2
    assert "✗ salesforce · token: salesforce: Salesforce refused " \
           "OFFERING_SYNC_SALESFORCE_CLIENT_SECRET" in result.stdout
    assert "not-the-secret-4711" not in result.stdout + result.stderr
    odd = {**env, "OFFERING_SYNC_SALESFORCE_API_VERSION": "99.0",
           "OFFERING_SYNC_SALESFORCE_EXTERNAL_ID_FIELD": "Nope__c"}
    body = json.loads(run("check", "salesforce", "--json", env=odd).stdout)
    failed = {line["check"]: line for line in body if not line["ok"]}
    assert set(failed) == {"api version"}
    assert "OFFERING_SYNC_SALESFORCE_API_VERSION to 66.0" in failed["api version"]["fix"]
    body = json.loads(run("check", "salesforce", "--json", env={
        **env, "OFFERING_SYNC_SALESFORCE_EXTERNAL_ID_FIELD": "Nope__c"}).stdout)
    (bad,) = [line for line in body if not line["ok"]]
    assert bad["check"] == "external id field" and "Nope__c" in bad["detail"]
    assert app.state.posts == 0


def test_check_of_nothing_configured_is_a_clear_error(org_env):
    env = {k: v for k, v in org_env[0].items() if not k.startswith("OFFERING_SYNC_")}
    result = run("check", env=env)
    assert result.returncode == 2 and "no system is configured" in result.stderr


def test_demo_data_loads_with_lookups_and_no_crosswalk_file(org_env):
    env, catalog, app, _ = org_env
    result = run("sync", "--source", "digitalchalk", "--target", "salesforce", "--json", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout)["created"] == 200
    org = app.state.org
    by_year = {s["Name"]: sid for sid, s in org.sessions.items()}
    course = {c["CourseNumber"]: cid for cid, c in org.courses.items()}
    records = {r["id"]: r for r in catalog}
    for offering in org.offerings.values():
        record = records[offering["courseOfferingExternalId"]["fieldValue"].split(":", 1)[1]]
        assert offering["academicSessionId"] == by_year[record["beginDate"][:4]]
        # An offering's category is not an org course: the default one; no category at all:
        # the course for its source system.
        expected = DEFAULT_COURSE_NUMBER if record.get("offeringCategoryIds") else "digitalchalk"
        assert offering["learningCourseId"] == course[expected]
    lookups = Counter(q.split(" FROM ")[1].split()[0] for q in app.state.queries)
    assert lookups == {"AcademicSession": 1, "LearningCourse": 1,  # once per run, not per record
                       "CourseOffering": app.state.posts}  # our SystemModstamp, once per POST
    assert all("WHERE Id IN" in q for q in app.state.queries if "FROM CourseOffering" in q)


def test_a_crosswalk_file_overrides_the_org_and_a_course_found_by_number(tmp_path):
    catalog = digitalchalk.Catalog(60, seed=4)
    app = salesforce.create_app()
    category = next(r["offeringCategoryIds"][0] for r in catalog if r.get("offeringCategoryIds"))
    course = app.state.org.add_course("Category course", category)
    crosswalks = tmp_path / "crosswalks.yaml"
    crosswalks.write_text('salesforce_academic_sessions:\n  "2025": 0vcOVERRIDDEN00AAA\n')
    pipeline = build_pipeline("digitalchalk", "salesforce",
                              CoreSettings(crosswalks_file=crosswalks),
                              source_connector=dc_source(digitalchalk.create_app(catalog)),
                              target_connector=sf_target(app))
    summary = sync_pipeline(pipeline, StateStore(f"sqlite:///{tmp_path / 's.db'}"))
    assert summary.counts.created == 60
    for offering in app.state.org.offerings.values():
        year = datetime.fromisoformat(offering["startDate"].replace("Z", "+00:00")).year
        if year == 2025:
            assert offering["academicSessionId"] == "0vcOVERRIDDEN00AAA"
        else:
            assert offering["academicSessionId"].startswith("0vc0")
    with_category = [r for r in catalog if (r.get("offeringCategoryIds") or [None])[0] == category]
    linked = Counter(o["learningCourseId"] for o in app.state.org.offerings.values())
    assert linked[course] == len(with_category) > 0
