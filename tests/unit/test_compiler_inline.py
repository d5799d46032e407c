"""The transforms and sources the compiler writes out inline behave exactly like the registry's.

Each case compiles the same one-field mapping twice, once as shipped (inline fast paths) and once
with inlining switched off (every transform called from the registry), and feeds both the same
awkward values: the results, or the errors with the field they name, must be identical.
"""

from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from offering_sync.errors import InvalidRecord
from offering_sync.mapping import MappingContext, compile_mapping, compiler, load_mapping_text, transforms

CROSSWALKS = {"t": {"2025": "S25", "7": "S7", "*": None}, "w": {"a": "A", "*": "ANY"},
              "p": {"x": "ID-X"}}

TRANSFORMS = [
    "strip", "lower", "upper", "str", "int", "decimal", "utc_datetime", "none_if_empty",
    "{utc_datetime: {assume_tz: Europe/Berlin}}",
    "{format_datetime: {format: iso_z}}", "{format_datetime: {format: iso_z_millis}}",
    "{format_datetime: {format: date}}", "{format_datetime: {format: year}}",
    "{crosswalk: {table: t}}", "{crosswalk: {table: w}}",
    "{crosswalk: {table: p, passthrough: true}}", "{crosswalk: {table: t, on_missing: skip}}",
    "{enum: {map: {In Person: in_person, '1': one}}}",
    "{enum: {map: {In Person: in_person}, case_sensitive: true}}",
    "{enum: {map: {a: null, b: x}, default: other}}",
    "{max_length: {chars: 5}}",
]

_BERLIN = timezone(timedelta(hours=1))
VALUES: list[Any] = [
    "", " ", "abc", "  Padded  ", "ÄÖÜ ß", "In Person", "in person", "IN PERSON", "1", "7", "a",
    "x", "ID-X", "2025", "123456", " 42 ", "-3", "+3", "1.50", "1e3", "NaN", "inf",
    "2025-01-01T00:00:00Z", "2025-01-01T10:11:12.345678Z", "2025-01-01T00:00:00z",
    " 2025-01-01T00:00:00Z", "2025-01-01T00:00:00Z ", "2025-01-01Z", "2025-01-01T00Z", "1Z", "Z",
    "2025-02-30T00:00:00Z", "0005-01-01T00:00:00Z", "0999-12-31T23:59:59Z",
    "9999-12-31T23:59:59Z", "2025-01-01T00:00:00+0000", "2025-01-01T00:00:00-0500",
    "2025-01-01T00:00:00+05:30", "2025-01-01T00:00:00", "20250101T000000Z", "2025-W01-1T00Z",
    "not a date", "٢٠٢٥-01-01T00:00:00Z",
    0, 1, -1, 7, 2025, 10**20, True, False, 0.0, -0.0, 1.5, 2.0, 1e20, float("nan"),
    float("inf"), Decimal("1.50"), Decimal("2"), Decimal("NaN"),
    [], [1, "a"], (), ("a",), {}, {"k": 1}, {"fieldName": "a"},
    datetime(2025, 1, 2, 3, 4, 5, 678901, tzinfo=UTC), datetime(5, 1, 1, tzinfo=UTC),
    datetime(999, 12, 31, 23, 0, tzinfo=UTC), datetime(1000, 1, 1, tzinfo=UTC),
    datetime(2025, 1, 2, 3, 4, 5, tzinfo=_BERLIN), datetime(2025, 1, 2, 3, 4, 5),
    date(2025, 1, 2), time(10, 30),
]


def _mapping(rule: str, context: MappingContext, *, inline: bool,
             monkeypatch: pytest.MonkeyPatch) -> Any:
    text = f"version: 1\nfrom: x\nto: canonical\nfields:\n  out: {rule}\n"
    with monkeypatch.context() as patch:
        if not inline:
            patch.setattr(compiler, "inline_kind", lambda *_: None)
        return compile_mapping(load_mapping_text(text), context)


def _outcome(fn: Any, record: dict[str, Any]) -> Any:
    try:
        out = fn(record)
    except InvalidRecord as exc:
        return ("error", str(exc), exc.field, repr(exc.value))
    return ("ok", {k: (type(v), repr(v)) for k, v in out.items()})


@pytest.mark.parametrize("spec", TRANSFORMS)
def test_an_inlined_transform_gives_the_registrys_value_or_error(spec, monkeypatch):
    context = MappingContext(crosswalks=CROSSWALKS)
    rule = f"{{from: v, transforms: [{spec}]}}"
    fast = _mapping(rule, context, inline=True, monkeypatch=monkeypatch)
    slow = _mapping(rule, context, inline=False, monkeypatch=monkeypatch)
    for value in VALUES:
        assert _outcome(fast, {"v": value}) == _outcome(slow, {"v": value}), value


@pytest.mark.parametrize("chain", [
    "[utc_datetime, {format_datetime: {format: year}}]", "[strip, upper]",
    "[none_if_empty, str, {max_length: {chars: 3}}]", "[str, {crosswalk: {table: t}}]",
])
def test_chains_of_inlined_transforms_match_the_registry(chain, monkeypatch):
    context = MappingContext(crosswalks=CROSSWALKS)
    for missing in ("omit", "error"):
        rule = f"{{from: v, transforms: {chain}, missing: {missing}}}"
        fast = _mapping(rule, context, inline=True, monkeypatch=monkeypatch)
        slow = _mapping(rule, context, inline=False, monkeypatch=monkeypatch)
        for value in VALUES:
            assert _outcome(fast, {"v": value}) == _outcome(slow, {"v": value}), value


def test_an_inlined_failure_names_the_output_field_and_the_value():
    fn = compile_mapping(load_mapping_text(
        "version: 1\nfrom: x\nto: canonical\nfields:\n"
        "  starts_at: {from: b, transforms: [utc_datetime]}\n"
        "  title: {from: t, transforms: [{max_length: {chars: 3}}]}\n"))
    with pytest.raises(InvalidRecord) as info:
        fn({"b": "2013-02-30T00:00:00Z"})
    assert (info.value.field, info.value.value) == ("starts_at", "2013-02-30T00:00:00Z")
    assert "not an ISO 8601 date-time" in str(info.value)
    with pytest.raises(InvalidRecord, match=r"field 'title': longer than 3 characters \(4\)"):
        fn({"t": "four"})


def test_common_values_take_the_inline_path_and_never_call_the_registry(monkeypatch):
    calls: list[Any] = []
    real = transforms.build_transform

    def counting(spec: Any, crosswalks: Any, lookups: Any = None) -> Any:
        fn = real(spec, crosswalks, lookups)
        return lambda value: calls.append(value) or fn(value)

    monkeypatch.setattr(compiler, "build_transform", counting)
    fn = compile_mapping(load_mapping_text(
        "version: 1\nfrom: x\nto: canonical\nfields:\n"
        "  a: {from: a, transforms: [str, strip, upper, {max_length: {chars: 9}}]}\n"
        "  b: {from: b, transforms: [utc_datetime, {format_datetime: {format: year}}]}\n"
        "  c: {from: c, transforms: [decimal]}\n"
        "  d: {from: d, transforms: [int, str, {crosswalk: {table: w}}]}\n"),
        MappingContext(crosswalks=CROSSWALKS))
    out = fn({"a": " usd ", "b": "2025-06-01T00:00:00Z", "c": 1.1, "d": 7})
    assert out == {"a": "USD", "b": "2025", "c": Decimal("1.1"), "d": "ANY"}
    assert calls == ["7"]  # only the crosswalk's fallback ("*") needed the registry


@pytest.mark.parametrize("rule", ["{from: 'l[0]'}", "{from: 'l[2]'}", "{const: [1, 2]}",
                                  "{const: null, missing: 'null'}", "{setting: s}"])
def test_inlined_sources_read_like_the_compiled_getters(rule, monkeypatch):
    context = MappingContext(settings={"s": {"x": 1}})
    fast = _mapping(rule, context, inline=True, monkeypatch=monkeypatch)
    with monkeypatch.context() as patch:
        patch.setattr(compiler, "_emit_inline_source", lambda *_: False)
        slow = compile_mapping(load_mapping_text(
            f"version: 1\nfrom: x\nto: canonical\nfields:\n  out: {rule}\n"), context)
    for value in [None, [], ["a"], ["a", "b", "c"], ("t", "u", "v"), "abc", {"0": 1}, 3]:
        assert _outcome(fast, {"l": value}) == _outcome(slow, {"l": value}), value
    assert _outcome(fast, {}) == _outcome(slow, {})


def test_a_model_is_read_without_being_copied_or_changed():
    from offering_sync.model import validate_offering

    offering = validate_offering({"source_system": "x", "source_id": "1", "external_id": "x:1",
                                  "title": " T ", "tags": ["a"]})
    before = dict(offering.__dict__)
    fn = compile_mapping(load_mapping_text(
        "version: 1\nfrom: canonical\nto: x\nfields:\n"
        "  name: {from: title, transforms: [strip]}\n  tags: {from: 'tags[*]'}\n"))
    assert fn(offering) == {"name": "T", "tags": ["a"]}
    assert offering.__dict__ == before
