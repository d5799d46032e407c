from datetime import UTC, datetime

import pytest

from offering_sync.errors import InvalidRecord, MappingError
from offering_sync.mapping import MappingContext, compile_mapping, load_mapping_text


def compiled(fields: str, *, to="canonical", context=None):
    text = f"version: 1\nfrom: {'x' if to == 'canonical' else 'canonical'}\nto: {to}\nfields:\n"
    return compile_mapping(load_mapping_text(text + fields), context)


def test_missing_omit_leaves_the_field_out_and_null_sets_none():
    fn = compiled("  a: {from: a}\n  b: {from: b, missing: 'null'}\n  c: {from: c, default: 7}\n")
    assert fn({}) == {"b": None, "c": 7}


def test_missing_error_names_the_field():
    fn = compiled("  title: {from: t, missing: error}\n")
    with pytest.raises(InvalidRecord, match="'title'"):
        fn({})


def test_a_transform_failure_names_the_output_field_and_value():
    fn = compiled("  starts_at: {from: b, transforms: [utc_datetime]}\n")
    with pytest.raises(InvalidRecord) as info:
        fn({"b": "2013-02-30T00:00:00Z"})
    assert info.value.field == "starts_at"
    assert info.value.value == "2013-02-30T00:00:00Z"


def test_templates_fill_placeholders_only_and_keep_literal_braces():
    fn = compiled("  k: {template: 'dc:{id}:{{x}}'}\n")
    assert fn({"id": 5}) == {"k": "dc:5:{x}"}
    assert fn({}) == {}


def test_templates_cannot_reach_attributes():
    with pytest.raises(MappingError, match=r"field 'k': bad path 'id.__class__'"):
        compiled("  k: {template: '{id.__class__}'}\n")


@pytest.mark.parametrize("rule", [
    "{template: '{address.__init__.__globals__.sys.modules.os.environ}'}",
    "{from: address.__init__.__globals__}",
    "{coalesce: [title, address._private]}",
])
def test_a_mapping_cannot_walk_from_the_offering_to_python_internals(rule):
    with pytest.raises(MappingError, match="starts with '_'"):
        compiled(f"  description: {rule}\n", to="salesforce")


def test_objects_are_read_through_model_fields_only():
    from offering_sync.mapping.paths import MISSING, compile_getter
    from offering_sync.model import Address

    class Plain:
        secret = "s3cret"

    assert compile_getter("a.secret")({"a": Plain()}) is MISSING
    assert compile_getter("a.city")({"a": Address(city="Columbia")}) == "Columbia"


def test_coalesce_takes_the_first_present_value():
    fn = compiled("  d: {coalesce: [a, b]}\n")
    assert fn({"a": "", "b": "x"}) == {"d": "x"}


def test_each_maps_every_item_of_a_list():
    fn = compiled("  out.items:\n    from: rows\n    transforms: [none_if_empty]\n    each:\n"
                  "      n: {from: name, transforms: [upper]}\n", to="salesforce")
    assert fn({"rows": [{"name": "a"}, {"name": "b"}]}) == {"out": {"items": [{"n": "A"},
                                                                               {"n": "B"}]}}
    assert fn({"rows": []}) == {}


def test_settings_and_crosswalks_are_resolved_at_compile_time():
    ctx = MappingContext(settings={"s.f": "Ext__c"}, crosswalks={"t": {"a": "1"}})
    fn = compiled("  x.f: {setting: s.f}\n  x.y: {from: k, transforms: [{crosswalk: {table: t}}]}\n",
                  to="salesforce", context=ctx)
    assert fn({"k": "a"}) == {"x": {"f": "Ext__c", "y": "1"}}
    with pytest.raises(MappingError, match="no setting"):
        compiled("  x.f: {setting: s.other}\n", to="salesforce", context=ctx)
    with pytest.raises(MappingError, match="no crosswalk table"):
        compiled("  x.y: {from: k, transforms: [{crosswalk: {table: nope}}]}\n",
                 to="salesforce", context=ctx)


def test_digitalchalk_doc_example_maps_to_exact_canonical_values():
    from offering_sync.app.compose import _compiled
    from offering_sync.model import validate_offering
    from offering_sync.settings import CoreSettings
    from tests.conftest import fixture_json

    to_canonical, _ = _compiled(CoreSettings(), "digitalchalk", "salesforce")
    first, second = fixture_json("digitalchalk", "get_offerings_example.json")
    a = validate_offering(to_canonical(first))
    b = validate_offering(to_canonical(second))
    assert a.source_id == "8925ac9a25de5f5129a927610a0e00e"
    assert a.external_id == "digitalchalk:8925ac9a25de5f5129a927610a0e00e"
    assert a.ends_at is None and a.description is None and a.tags == ()
    assert str(a.price) == "260.0"
    assert b.starts_at == datetime(2013, 8, 1, 8, 0, tzinfo=UTC)
    assert b.registration_closes_at == datetime(2013, 8, 1, tzinfo=UTC)
    assert b.description == "Second Sample Offering"
    assert b.short_description == "Begin taking Sample Offering 2"
    assert b.categories == ("322887559acf003141592653584510e", "31984324731200022dc6f676621398a")
    assert b.tags == ("sample",) and b.order_index == 1 and b.term_ref == "2013"


def test_fields_filled_by_their_default_are_named_so_an_update_can_keep_the_targets():
    fn = compiled("  a.b: {from: a, default: 0}\n  c: {from: c, transforms: [none_if_empty],"
                  " default: x}\n  d: {from: d, default: 1}\n  e: {from: e}\n", to="sys")
    assert fn.with_defaults({"c": "", "d": 5}) == ({"a": {"b": 0}, "c": "x", "d": 5},
                                                   ("a.b", "c"))
    assert fn.with_defaults({"a": 3, "c": "y", "d": 5, "e": 1})[1] == ()
    assert fn({"c": ""}) == {"a": {"b": 0}, "c": "x", "d": 1}  # the plain call is unchanged


def test_an_update_keeps_the_targets_value_where_ours_is_only_a_default():
    from offering_sync.ownership import for_update, overlay

    ours = {"name": "New", "capacity_options": {"capacity": 0}, "timezone": "UTC"}
    current = {"name": "Old", "capacity_options": {"capacity": 25}, "fee_id": "f"}
    body = overlay(current, ours, {"name": "overwrite", "capacity_options.capacity": "overwrite",
                                   "timezone": "overwrite"},
                   defaulted=("capacity_options.capacity", "timezone"))
    assert body == {"name": "New", "capacity_options": {"capacity": 25}, "fee_id": "f",
                    "timezone": "UTC"}  # a default still fills a field the target lacks
    sf = {"courseOffering": {"courseOfferingName": "New", "isActive": True, "description": "d"}}
    assert for_update(sf, {"courseOffering.description": "keep"},
                      defaulted=("courseOffering.isActive",)) == \
        {"courseOffering": {"courseOfferingName": "New"}}
