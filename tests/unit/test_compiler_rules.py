"""What the compiled mapping writes, and what it refuses (found by mutation testing, docs/mutation.md).

The compiler writes the common shapes of a rule out as straight-line code and sends the rest
through compiled getters; either way the output must be the same record, the ownership rules and
the digest (which re-sends records when the mapping changes) must reach the engine, and nothing
but a record's own fields may be read.
"""

import pytest

from offering_sync.errors import InvalidRecord
from offering_sync.mapping import MappingContext, compile_mapping, load_mapping_text
from offering_sync.mapping.loader import LoadedMapping
from offering_sync.mapping.spec import MappingSpec


def compiled(fields: str, *, context=None, file="<mapping>"):
    text = "version: 1\nfrom: canonical\nto: sys\nfields:\n"
    return compile_mapping(load_mapping_text(text + fields, file=file), context)


# -- reading the record --------------------------------------------------------------------------


def test_a_nested_source_path_reads_the_nested_value_not_a_dotted_key():
    fn = compiled("  city: {from: address.city}\n")
    assert fn({"address": {"city": "Columbia"}, "address.city": "wrong"}) == {"city": "Columbia"}


def test_a_template_fills_every_placeholder_with_its_own_literal_text():
    fn = compiled("  k: {template: 'x{a}-{b}y'}\n  f: {template: 'fixed'}\n")
    assert fn({"a": 1, "b": 2}) == {"k": "x1-2y", "f": "fixed"}
    assert fn({"a": 1}) == {"f": "fixed"}  # a placeholder without a value: no field


@pytest.mark.parametrize("path", ["a", "n.a"])  # the straight-line code and the getter path
def test_doubled_braces_next_to_a_placeholder_read_as_str_format_reads_them(path):
    record = {"a": 1, "n": {"a": 1}}
    for template, expected in [("{{{%s}}}", "{1}"), ("{{%s}}", "{%s}"), ("x{{ {%s} }}y", "x{ 1 }y"),
                               ("{%s}}}", "1}"), ("{{{{{%s}", "{{1")]:
        text = template % path
        fn = compiled(f"  k: {{template: '{text}'}}\n")
        assert fn(record) == {"k": expected.replace("%s", path)}, text
        if path == "a":  # the same as Python's own reading
            assert text.format(a=1) == expected.replace("%s", path)


def test_a_template_with_nested_paths_reads_them_and_keeps_literal_braces():
    fn = compiled("  k: {template: '{{x}} {a.b}:{c.d}!'}\n")
    assert fn({"a": {"b": 1}, "c": {"d": "x"}}) == {"k": "{x} 1:x!"}
    assert fn({"a": {"b": 1}, "c": {}}) == {}
    assert fn({"a": {"b": 1}, "c": {"d": None}}) == {}


def test_coalesce_of_nested_paths_takes_the_first_non_empty_value():
    fn = compiled("  d: {coalesce: [a.x, b.y]}\n")
    assert fn({"a": {"x": ""}, "b": {"y": "v"}}) == {"d": "v"}
    assert fn({"a": {"x": "first"}, "b": {"y": "v"}}) == {"d": "first"}
    assert fn({"a": {"x": []}, "b": {}}) == {}


def test_coalesce_of_keys_that_are_all_empty_writes_nothing():
    fn = compiled("  d: {coalesce: [a, b]}\n  e: {coalesce: [a, b], missing: 'null'}\n")
    assert fn({"a": "", "b": []}) == {"e": None}
    assert fn({}) == {"e": None}
    assert fn({"a": 0, "b": 5}) == {"d": 0, "e": 0}  # zero is a value, not empty


def test_first_of_takes_the_first_choice_that_gives_a_value():
    fn = compiled("  out.id:\n    first_of:\n      - {from: a, transforms: [none_if_empty]}\n"
                  "      - {from: b}\n      - {const: fallback}\n")
    assert fn({"a": "A", "b": "B"}) == {"out": {"id": "A"}}
    assert fn({"a": "", "b": "B"}) == {"out": {"id": "B"}}
    assert fn({"a": None, "b": None}) == {"out": {"id": "fallback"}}


def test_first_of_with_no_choice_giving_a_value_follows_the_missing_rule():
    fn = compiled("  a.b.c:\n    first_of:\n      - {from: x}\n      - {from: y}\n"
                  "  d:\n    first_of: [{from: x}]\n    missing: 'null'\n")
    assert fn({"y": 3}) == {"a": {"b": {"c": 3}}, "d": None}
    assert fn({}) == {"d": None}


def test_each_without_its_list_writes_nothing_and_a_non_list_names_the_field():
    fn = compiled("  items:\n    from: rows\n    each:\n      n: {from: name}\n")
    assert fn({}) == {}
    assert fn({"rows": None}) == {}
    with pytest.raises(InvalidRecord, match="expected a list") as info:
        fn({"rows": "abc"})
    assert info.value.field == "items" and info.value.value == "abc"


def test_records_that_are_not_models_or_mappings_give_no_values():
    class Plain:
        def __init__(self):
            self.title = "secret"

    fn = compiled("  t: {from: title}\n  u: {coalesce: [title]}\n  v: {template: '{title}'}\n")
    assert fn(Plain()) == {}


def test_a_private_name_is_refused_even_in_a_spec_that_skipped_the_loader():
    """The compiler does not rely on the loader: an index into a private name is refused too."""
    spec = MappingSpec.model_validate({"version": 1, "from": "canonical", "to": "sys",
                                       "fields": {"t": {"from": "_secret[0]"}}})
    with pytest.raises(ValueError, match="starts with '_'"):
        compile_mapping(LoadedMapping(spec, "<mapping>", {}))


# -- writing the output --------------------------------------------------------------------------


def test_a_three_level_output_name_builds_every_level():
    fn = compiled("  a.b.c: {from: x}\n  a.b.d: {from: y}\n  a.e: {from: x}\n")
    assert fn({"x": 1, "y": 2}) == {"a": {"b": {"c": 1, "d": 2}, "e": 1}}


def test_missing_default_fills_the_field_with_the_default():
    fn = compiled("  a: {from: a, missing: default, default: 5}\n"
                  "  b: {from: b, missing: default, default: [x]}\n")
    assert fn.with_defaults({}) == ({"a": 5, "b": ["x"]}, ("a", "b"))
    first, second = fn({}), fn({})
    first["b"].append("changed")
    assert second["b"] == ["x"]  # each record gets its own copy of a list default


# -- what the engine reads from the compiled mapping ---------------------------------------------


def test_the_compiled_mapping_carries_its_sides_file_fields_and_ownership():
    fn = compiled("  name: {from: t}\n  a.b: {from: x, on_update: keep}\n"
                  "  tags: {from: tags, on_update: merge}\n", file="m.yaml")
    assert (fn.source, fn.target, fn.file) == ("canonical", "sys", "m.yaml")
    assert fn.fields == ("name", "a", "tags")
    assert fn.ownership == {"name": "overwrite", "a.b": "keep", "tags": "merge"}


def test_the_digest_changes_with_the_mapping_its_settings_and_its_crosswalks_only():
    from datetime import date

    fields = "  a: {from: a}\n  b: {setting: s}\n"
    ctx = MappingContext(settings={"s": 1, "t": date(2026, 1, 2)}, crosswalks={"w": {"k": "v"}})
    same = MappingContext(settings={"t": date(2026, 1, 2), "s": 1}, crosswalks={"w": {"k": "v"}})
    digest = compiled(fields, context=ctx).digest
    assert len(digest) == 16
    assert compiled(fields, context=same).digest == digest  # the order of settings is no change
    assert compiled("  a: {from: c}\n  b: {setting: s}\n", context=ctx).digest != digest
    assert compiled(fields, context=MappingContext(
        settings={"s": 2, "t": date(2026, 1, 2)}, crosswalks={"w": {"k": "v"}})).digest != digest
    assert compiled(fields, context=MappingContext(
        settings={"s": 1, "t": date(2026, 1, 3)}, crosswalks={"w": {"k": "v"}})).digest != digest
    assert compiled(fields, context=MappingContext(
        settings={"s": 1, "t": date(2026, 1, 2)}, crosswalks={"w": {"k": "x"}})).digest != digest


def test_a_null_or_date_default_is_written_as_given():
    from datetime import date

    fn = compiled("  a: {from: a, default: null}\n  b: {from: b, default: 2026-01-02}\n"
                  "  c: {from: c, missing: default, default: 1.5}\n")
    assert fn.with_defaults({}) == ({"a": None, "b": date(2026, 1, 2), "c": 1.5}, ("a", "b", "c"))
