"""The change marker of a record read from a source without a version field."""

from datetime import date
from decimal import Decimal

from offering_sync.engine.state import record_marker


def test_the_same_record_has_the_same_marker_whatever_its_key_order():
    assert record_marker({"id": "7", "title": "A", "tags": ["x"]}) == \
        record_marker({"tags": ["x"], "title": "A", "id": "7"})


def test_any_change_to_the_record_changes_its_marker():
    base = {"id": "7", "title": "A", "tags": ["x"], "seats": 10}
    changed = [{**base, "title": "B"}, {**base, "tags": ["x", "y"]}, {**base, "seats": 11},
               {**base, "extra": None}, {k: v for k, v in base.items() if k != "seats"}]
    markers = {record_marker(r) for r in [base, *changed]}
    assert len(markers) == 1 + len(changed)


def test_values_json_cannot_hold_still_give_a_stable_marker():
    record = {"price": Decimal("1.50"), "day": date(2024, 1, 1), 3: "int key"}
    assert record_marker(record) is not None
    assert record_marker(record) == record_marker(dict(reversed(list(record.items()))))
    huge = {"big": 2**70}  # beyond orjson: the slower canonical JSON marks it
    assert record_marker(huge) is not None and record_marker(huge) != record_marker({"big": 1})


def test_a_record_no_encoder_takes_has_no_marker_so_it_is_always_mapped():
    assert record_marker({"big": 2**70, 3: "int key"}) is None
