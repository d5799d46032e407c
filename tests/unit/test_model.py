from datetime import UTC, datetime, timedelta, timezone

import pytest

from offering_sync.errors import InvalidRecord
from offering_sync.model import Offering, validate_offering

BASE = {"source_system": "x", "source_id": "1", "external_id": "x:1", "title": "T"}


def test_instants_are_stored_in_utc():
    o = Offering(**BASE, starts_at=datetime(2026, 1, 1, 9, tzinfo=timezone(timedelta(hours=2))))
    assert o.starts_at == datetime(2026, 1, 1, 7, tzinfo=UTC)
    assert o.starts_at.tzinfo == UTC


def test_errors_name_record_field_and_value():
    with pytest.raises(InvalidRecord) as info:
        validate_offering({**BASE, "capacity": -3})
    assert info.value.key == "x:1" and info.value.field == "capacity" and info.value.value == -3
    assert "record x:1: field 'capacity'" in str(info.value)


@pytest.mark.parametrize("field,value", [
    ("currency", "DOLLARS"), ("timezone", "Mars/Base"), ("title", ""), ("title", "x" * 300),
    ("starts_at", datetime(2026, 1, 1)), ("price", "NaN"),
])
def test_bad_values_are_refused(field, value):
    with pytest.raises(InvalidRecord) as info:
        validate_offering({**BASE, field: value})
    assert info.value.field == field


def test_country_must_be_iso_3166():
    assert Offering(**BASE, address={"country": "de"}).address.country == "DE"
    with pytest.raises(InvalidRecord, match="address.country"):
        validate_offering({**BASE, "address": {"country": "XX"}})


def test_ends_before_starts_is_refused():
    with pytest.raises(InvalidRecord, match="ends_at is before starts_at"):
        validate_offering({**BASE, "starts_at": datetime(2026, 2, 1, tzinfo=UTC),
                           "ends_at": datetime(2026, 1, 1, tzinfo=UTC)})


def test_zero_capacity_and_non_ascii_titles_are_fine():
    o = Offering(**BASE | {"title": "Écologie 日本語"}, capacity=0)
    assert o.capacity == 0 and o.title == "Écologie 日本語"


def test_unknown_fields_are_refused():
    with pytest.raises(InvalidRecord, match="colour"):
        validate_offering({**BASE, "colour": "red"})


def test_a_lone_surrogate_from_a_bad_escape_is_refused_naming_the_field():
    with pytest.raises(InvalidRecord) as info:
        validate_offering({**BASE, "title": "bad \udcff escape"})
    assert info.value.field == "title" and "unicode" in str(info.value).lower()
