"""The ``lookup`` transform: declared in YAML, validated on load, one query per lookup per run,
crosswalk overrides first, and a clear dead-letter reason when nothing matches."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from offering_sync.errors import InvalidRecord, MappingError
from offering_sync.mapping import MappingContext, StaticLookups, compile_mapping, load_mapping_text

SESSIONS = [
    {"Id": "0vc000000000024AAA", "Name": "2024", "ClassStartDate": "2024-01-01T00:00:00.000+0000",
     "ClassEndDate": "2024-12-31T23:59:59.000+0000", "IsActive": True},
    {"Id": "0vc000000000025AAA", "Name": "2025", "ClassStartDate": "2025-01-01T00:00:00.000+0000",
     "ClassEndDate": "2025-12-31T23:59:59.000+0000", "IsActive": True},
    {"Id": "0vc0000000000OLDAA", "Name": "old", "ClassStartDate": "2025-01-01",
     "ClassEndDate": "2025-12-31", "IsActive": False},
]
COURSES = [{"Id": "0vY00000000000AAAA", "CourseNumber": "ECON-101"},
           {"Id": "0vY0000000000DEFAA", "CourseNumber": "OFFERING-SYNC-DEFAULT"}]
MAPPING = """version: 1
from: canonical
to: salesforce
fields:
  session:
    from: starts_at
    transforms:
      - lookup:
          object: AcademicSession
          match: {ClassStartDate: {lte: value}, ClassEndDate: {gte: value}}
          where: {IsActive: true}
          override: {table: sessions, key: year}
  course:
    from: course_ref
    transforms: [{lookup: {object: LearningCourse, by: CourseNumber, fallback: %s,
                           override: courses}}]
"""


def compiled(text=MAPPING % "OFFERING-SYNC-DEFAULT", crosswalks=None, resolver=None):
    resolver = resolver or StaticLookups({"AcademicSession": SESSIONS, "LearningCourse": COURSES})
    loaded = load_mapping_text(text, file="m.yaml")
    return compile_mapping(loaded, MappingContext(crosswalks=crosswalks or {},
                                                  lookups={"salesforce": resolver})), resolver


def record(when="2025-06-01T10:00:00+00:00", course="ECON-101"):
    return {"starts_at": datetime.fromisoformat(when), "course_ref": course}


def test_one_query_per_lookup_however_many_records():
    fn, resolver = compiled()
    results = [fn(record(f"2025-0{1 + i % 9}-10T10:00:00+00:00")) for i in range(500)]
    assert {r["session"] for r in results} == {"0vc000000000025AAA"}
    assert {r["course"] for r in results} == {"0vY00000000000AAAA"}
    assert [(q[0], q[2]) for q in resolver.queries] == [
        ("AcademicSession", {"IsActive": True}), ("LearningCourse", {})]
    assert set(resolver.queries[0][1]) == {"Id", "ClassStartDate", "ClassEndDate"}


def test_range_bounds_and_case_insensitive_keys():
    fn, _ = compiled()
    assert fn(record("2024-12-31T23:59:59+00:00", "econ-101")) == {
        "session": "0vc000000000024AAA", "course": "0vY00000000000AAAA"}


def test_no_match_is_an_invalid_record_naming_the_lookup_and_the_value():
    fn, _ = compiled()
    with pytest.raises(InvalidRecord) as info:
        fn(record("2031-03-01T00:00:00+00:00"))
    message = str(info.value)
    assert "field 'session'" in message
    assert "lookup AcademicSession where ClassStartDate <= value and ClassEndDate >= value" in message
    assert "no AcademicSession matches this value (value: 2031-03-01T00:00:00+00:00)" in message


def test_the_fallback_key_and_then_no_fallback():
    fn, _ = compiled()
    assert fn(record(course="NOT-IN-ORG"))["course"] == "0vY0000000000DEFAA"
    strict = MAPPING.replace(" fallback: %s,\n                          ", "")
    fn, _ = compiled(strict)
    with pytest.raises(InvalidRecord, match="no LearningCourse matches this value .value: 'NOT-IN-ORG'"):
        fn(record(course="NOT-IN-ORG"))


def test_a_crosswalk_overrides_the_org_by_key():
    crosswalks = {"sessions": {"2025": "0vcOVERRIDE0000AAA"}, "courses": {"ECON-101": "0vYX"}}
    fn, resolver = compiled(crosswalks=crosswalks)
    assert fn(record()) == {"session": "0vcOVERRIDE0000AAA", "course": "0vYX"}
    assert fn(record("2024-05-05T00:00:00+00:00"))["session"] == "0vc000000000024AAA"
    star = {"sessions": {"*": "0vcSTAR"}}
    fn, _ = compiled(crosswalks=star)
    assert fn(record("2031-03-01T00:00:00+00:00"))["session"] == "0vcSTAR"  # last resort
    assert fn(record())["session"] == "0vc000000000025AAA"  # the org still comes first


def test_more_than_one_match_is_refused_not_guessed():
    both = [*SESSIONS, {**SESSIONS[1], "Id": "0vcDUPLICATE000AAA"}]
    fn, _ = compiled(resolver=StaticLookups({"AcademicSession": both, "LearningCourse": COURSES}))
    with pytest.raises(InvalidRecord, match="2 AcademicSession records match"):
        fn(record())


def test_numbers_dates_and_booleans_compare_as_their_types():
    text = """version: 1
from: canonical
to: x
fields:
  a: {from: n, transforms: [{lookup: {object: T, match: {Low: {lt: value}, High: {gt: value}}}}]}
"""
    rows = {"T": [{"Id": "one", "Low": 1, "High": "10"}, {"Id": "two", "Low": "10", "High": 100}]}
    fn = compile_mapping(load_mapping_text(text), MappingContext(
        lookups={"x": StaticLookups(rows)}))
    assert fn({"n": 5})["a"] == "one" and fn({"n": Decimal("50")})["a"] == "two"
    with pytest.raises(InvalidRecord):
        fn({"n": 10})


@pytest.mark.parametrize(("transform", "problem", "line"), [
    ("{lookup: {by: Name}}", "argument 'object' is required", 6),
    ("{lookup: {object: T, by: Name, match: {Name: {eq: value}}}}", "exactly one of 'match'", 6),
    ("{lookup: {object: T, match: {StartDate: {before: value}}}}", "op one of eq, lt", 6),
    ("{lookup: {object: T, match: {StartDate: {lte: 3}}}}", "write {op: value}", 6),
    ("{lookup: {object: T, by: Name, colour: red}}", "unknown argument 'colour'", 6),
    ("{lookup: {object: T, by: Name, override: {table: t, key: month}}}", "override key", 6),
    ("{lookup: {object: T, match: {A: {lt: value}}, fallback: x}}", "'fallback'", 6),
])
def test_a_wrong_lookup_is_refused_on_load_with_file_and_line(transform, problem, line):
    text = f"version: 1\nfrom: canonical\nto: x\nfields:\n  a:\n    from: b\n" \
           f"    transforms: [{transform}]\n"
    with pytest.raises(MappingError) as info:
        load_mapping_text(text, file="bad.yaml")
    assert problem in str(info.value)
    assert str(info.value).startswith("bad.yaml:7: field 'a'")


def test_compiled_without_a_target_every_value_is_refused_loudly():
    loaded = load_mapping_text(MAPPING % "X", file="m.yaml")
    fn = compile_mapping(loaded, MappingContext())
    with pytest.raises(InvalidRecord, match="compiled without a connection to the target"):
        fn(record())


def test_a_target_that_answers_no_lookups_fails_at_compile_time():
    loaded = load_mapping_text(MAPPING % "X", file="m.yaml")
    with pytest.raises(MappingError, match="m.yaml.*field 'session'.*answers no lookups"):
        compile_mapping(loaded, MappingContext(lookups={}))


def test_the_bundled_salesforce_mapping_resolves_from_the_org_alone():
    from offering_sync.app.compose import _load
    from offering_sync.connectors.salesforce import mapping_settings
    from offering_sync.model import Offering
    from offering_sync.settings import CoreSettings

    org = {"AcademicSession": SESSIONS[:2], "LearningCourse": COURSES}
    fn = compile_mapping(_load(CoreSettings(), "canonical", "salesforce"), MappingContext(
        settings=mapping_settings(), lookups={"salesforce": StaticLookups(org)}))
    offering = Offering(source_system="digitalchalk", source_id="1", external_id="dc:1",
                        title="Ethics", starts_at=datetime(2025, 3, 1, tzinfo=UTC))
    body = fn(offering)["courseOffering"]
    assert body["academicSessionId"] == "0vc000000000025AAA"
    assert body["learningCourseId"] == "0vY0000000000DEFAA"  # no course of its own: the default
