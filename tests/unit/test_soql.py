"""SOQL from typed values only: what a hostile value becomes, read back by the emulated org."""

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from offering_sync.connectors.salesforce.query import api_name, select, soql_literal
from offering_sync.emulators.salesforce.org import Org
from offering_sync.emulators.salesforce.soql import parse
from offering_sync.errors import ConfigError


@pytest.mark.parametrize(("value", "literal"), [
    (None, "null"), (True, "true"), (False, "false"), (42, "42"), (Decimal("2.50"), "2.50"),
    (1.5, "1.5"), (date(2026, 1, 31), "2026-01-31"),
    (datetime(2026, 1, 31, 12, 0, 0, 123456, tzinfo=UTC), "2026-01-31T12:00:00.123Z"),
    ("O'Brien", "'O\\'Brien'"), ("a\\b", "'a\\\\b'"), ("line\nbreak", "'line\\nbreak'"),
])
def test_literals_are_typed_and_escaped(value, literal):
    assert soql_literal(value) == literal


@pytest.mark.parametrize("value", [float("nan"), Decimal("Infinity"), datetime(2026, 1, 1),
                                   object(), ["a"]])
def test_values_that_have_no_literal_are_refused(value):
    with pytest.raises(ValueError):
        soql_literal(value)


@pytest.mark.parametrize("name", ["Name OR Id != null", "Id,Name", "x'", "", "1abc", "a b",
                                  "Name--"])
def test_names_that_are_not_api_names_are_refused(name):
    with pytest.raises(ConfigError):
        api_name(name)


def test_an_injection_attempt_stays_one_string_the_org_reads_back():
    hostile = "x' OR Name != 'y"
    query = select("LearningCourse", ["Id", "Name"], {"CourseNumber": hostile, "IsActive": True})
    assert query == ("SELECT Id, Name FROM LearningCourse WHERE CourseNumber = 'x\\' OR Name != "
                     "\\'y' AND IsActive = true")
    parsed = parse(query)
    assert [(c.field, c.op, c.value) for c in parsed.where] == [
        ("CourseNumber", "=", hostile), ("IsActive", "=", True)]


def test_the_org_finds_a_course_whose_number_needs_escaping():
    from offering_sync.emulators.salesforce.data import run_query

    org = Org()
    org.add_course("Irish history", "O'BRIEN-1\\2")
    rows = run_query(org, select("LearningCourse", ["Id", "Name"], {"CourseNumber": "o'brien-1\\2"}),
                     "66.0", [])
    assert [r["Name"] for r in rows] == ["Irish history"]
