import pytest

from offering_sync.mapping.paths import (
    MISSING,
    PathError,
    compile_getter,
    compile_setter,
    parse_path,
)


def test_a_dotted_path_reads_nested_values():
    assert compile_getter("a.b.c")({"a": {"b": {"c": 3}}}) == 3


def test_an_absent_step_is_missing_not_none():
    get = compile_getter("a.b")
    assert get({"a": {}}) is MISSING
    assert get({"a": {"b": None}}) is None
    assert get({}) is MISSING


def test_an_index_reads_one_item_and_out_of_range_is_missing():
    get = compile_getter("tags[1]")
    assert get({"tags": ["x", "y"]}) == "y"
    assert compile_getter("tags[5]")({"tags": ["x"]}) is MISSING


def test_a_wildcard_collects_every_item():
    get = compile_getter("items[*].name")
    assert get({"items": [{"name": "a"}, {"x": 1}, {"name": "b"}]}) == ["a", "b"]
    assert get({"items": "not a list"}) is MISSING


@pytest.mark.parametrize("bad", ["", ".a", "a.", "a..b", "a[x]", "a[*].b[*]", "a]"])
def test_malformed_paths_are_refused(bad):
    with pytest.raises(PathError):
        parse_path(bad)


def test_a_setter_creates_nested_objects():
    out: dict = {}
    compile_setter("courseOffering.courseOfferingExternalId.fieldValue")(out, "x")
    compile_setter("courseOffering.courseOfferingName")(out, "n")
    assert out == {"courseOffering": {"courseOfferingExternalId": {"fieldValue": "x"},
                                      "courseOfferingName": "n"}}


def test_a_setter_refuses_indexes():
    with pytest.raises(PathError):
        compile_setter("a[0]")
