"""A broken mapping file is refused at load time with file, line and field."""

from pathlib import Path

import pytest

from offering_sync.errors import MappingError
from offering_sync.mapping import load_mapping, load_mapping_text
from offering_sync.model import OFFERING_FIELDS

HEAD = "version: 1\nfrom: digitalchalk\nto: canonical\nfields:\n"


def load(body: str, **kw):
    return load_mapping_text(HEAD + body, file="m.yaml", **kw)


def test_unknown_transform_names_file_line_and_field():
    with pytest.raises(MappingError) as info:
        load("  source_id: {from: id}\n  title: {from: title, transforms: [strp]}\n")
    assert str(info.value).startswith("m.yaml:6: field 'title': unknown transform 'strp'")


def test_unknown_target_field_is_refused():
    with pytest.raises(MappingError, match=r"m.yaml:5: field 'titel': unknown target field"):
        load("  titel: {from: title}\n", known_targets=OFFERING_FIELDS)


def test_unknown_source_field_is_refused():
    with pytest.raises(MappingError, match=r"m.yaml:5: field 'title': unknown source field 'ttle'"):
        load("  title: {from: ttle}\n", known_sources={"title"})


def test_bad_path_is_refused_with_its_line():
    with pytest.raises(MappingError, match=r"m.yaml:6: field 'tags': bad path"):
        load("  title: {from: title}\n  tags: {from: 'tags[*].x[*]'}\n")


def test_a_field_needs_exactly_one_source():
    with pytest.raises(MappingError, match=r"m.yaml:5: field 'title': .*exactly one"):
        load("  title: {from: title, const: x}\n")


def test_unknown_keys_are_refused():
    with pytest.raises(MappingError, match=r"m.yaml:5: field 'title': unknown key 'eval'"):
        load("  title: {from: title, eval: 'os.system(1)'}\n")


def test_yaml_syntax_errors_give_the_line():
    with pytest.raises(MappingError, match=r"m.yaml:5"):
        load("  title: {from: title\n")


def test_one_side_must_be_canonical():
    with pytest.raises(MappingError, match="canonical"):
        load_mapping_text("version: 1\nfrom: a\nto: b\nfields:\n  x: {from: y}\n")


def test_the_shipped_mapping_files_are_valid():
    from offering_sync.app.compose import check_mappings
    from offering_sync.settings import CoreSettings

    results = check_mappings(CoreSettings())
    assert results, "no mapping files found"
    assert [(p.name, e) for p, e in results if e] == []


def test_a_missing_file_is_a_mapping_error(tmp_path: Path):
    with pytest.raises(MappingError, match="cannot read"):
        load_mapping(tmp_path / "nope.yaml")


def test_a_yaml_alias_bomb_is_refused_before_it_is_built():
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join(f'*a{i - 1}' for _ in range(10))}]" for i in range(1, 9)]
    bomb = "\n".join(lines) + "\n" + HEAD + "  title: {from: title}\n"
    with pytest.raises(MappingError, match="expands to more than 100,000 values"):
        load_mapping_text(bomb, file="bomb.yaml")


def test_a_huge_mapping_file_is_refused(tmp_path):
    path = tmp_path / "big.yaml"
    path.write_text(HEAD + "  title: {from: title}\n" + "#" * 1_100_000)
    with pytest.raises(MappingError, match="big.yaml: is larger than 1,000,000 bytes"):
        load_mapping(path)


def test_a_few_anchors_and_aliases_are_still_fine():
    loaded = load("  title: &t {from: title}\n  description: *t\n")
    assert loaded.spec.fields["description"].from_ == "title"


def test_an_undocumented_source_field_is_a_warning_when_sources_are_open():
    loaded = load("  title: {from: departmentCode}\n", known_sources={"title"},
                  open_sources=True)
    assert loaded.spec.fields["title"].from_ == "departmentCode"
    assert loaded.warnings and "departmentCode" in loaded.warnings[0]
