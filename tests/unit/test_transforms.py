from datetime import UTC, date, datetime, time
from decimal import Decimal

import pytest

from offering_sync.mapping.transforms import TransformError, build_transform


def t(spec, crosswalks=None):
    return build_transform(spec, crosswalks)


@pytest.mark.parametrize("text", ["2011-02-01T00:02:12Z", "2011-02-01T00:02:12.000+0000",
                                  "2011-02-01T01:02:12+01:00"])
def test_utc_datetime_reads_every_vendor_offset_style(text):
    assert t("utc_datetime")(text) == datetime(2011, 2, 1, 0, 2, 12, tzinfo=UTC)


def test_utc_datetime_refuses_naive_and_impossible_dates():
    with pytest.raises(TransformError, match="no timezone"):
        t("utc_datetime")("2011-02-01T00:02:12")
    with pytest.raises(TransformError, match="ISO 8601"):
        t("utc_datetime")("2013-02-30T00:00:00Z")


def test_a_naive_time_can_be_given_a_declared_zone_across_dst():
    parse = t({"utc_datetime": {"assume_tz": "America/New_York"}})
    assert parse("2026-03-08T01:30:00") == datetime(2026, 3, 8, 6, 30, tzinfo=UTC)
    assert parse("2026-03-08T03:30:00") == datetime(2026, 3, 8, 7, 30, tzinfo=UTC)


def test_format_datetime_writes_salesforce_millis():
    moment = datetime(2024, 12, 9, 20, 0, tzinfo=UTC)
    assert t({"format_datetime": {"format": "iso_z_millis"}})(moment) == "2024-12-09T20:00:00.000Z"
    assert t({"format_datetime": {"format": "year"}})(moment) == "2024"


def test_numbers_are_exact_and_refuse_text_and_booleans():
    assert t("decimal")(500.1) == Decimal("500.1")
    with pytest.raises(TransformError):
        t("decimal")("free")
    with pytest.raises(TransformError):
        t("int")(True)
    assert t("int")("12") == 12


def test_enum_maps_known_values_and_names_the_choices_for_unknown():
    fn = t({"enum": {"map": {"in person": "in_person", "virtual": "virtual"}}})
    assert fn("In Person") == "in_person"
    with pytest.raises(TransformError, match="in person"):
        fn("hologram")


def test_crosswalk_uses_the_fallback_and_names_the_table_when_there_is_none():
    tables = {"sessions": {"2025": "0vc1"}, "courses": {"*": "0vY9"}}
    assert t({"crosswalk": {"table": "sessions"}}, tables)("2025") == "0vc1"
    assert t({"crosswalk": {"table": "courses"}}, tables)("anything") == "0vY9"
    with pytest.raises(TransformError, match="sessions"):
        t({"crosswalk": {"table": "sessions"}}, tables)("1999")


def test_split_and_join_round_trip_match_strings():
    assert t("split")("Fall 2024, FA24,") == ["Fall 2024", "FA24"]
    assert t("join")(["Fall 2024", "FA24"]) == "Fall 2024,FA24"


def test_time_and_date_formats():
    assert t("format_time")(time(0, 15)) == "00:15:00.000"
    assert t("time")("19:00:00.000Z") == time(19, 0)
    assert t("format_date")(date(2024, 12, 1)) == "2024-12-01"


def test_pairs_round_trip():
    pairs = t("pairs")({"a__c": 1})
    assert pairs == [{"fieldName": "a__c", "fieldValue": 1}]
    assert t("from_pairs")(pairs) == {"a__c": 1}


def test_unknown_transforms_and_bad_arguments_are_refused():
    with pytest.raises(KeyError, match="unknown transform"):
        t("eval")
    with pytest.raises(TypeError, match="unknown argument"):
        t({"split": {"separator": ","}})
    with pytest.raises(TypeError, match="takes no arguments"):
        t({"strip": {"x": 1}})
