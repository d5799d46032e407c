"""Field ownership on update: what an administrator set in the target survives our writes.

These pin the rules one by one (found by mutation testing, docs/mutation.md): each assertion is
what a user would check in the target after an update.
"""

import copy

from offering_sync.ownership import for_update, on_conflict, overlay
from offering_sync.records import WritePolicy, WriteRequest


def test_overwrite_replaces_our_fields_and_leaves_everything_else_alone():
    current = {"id": "T1", "title": "Old", "notes": "typed by an admin",
               "address": {"city": "Paris", "room": "12B"}}
    before = copy.deepcopy(current)
    body = overlay(current, {"title": "New", "address": {"city": "Lyon"}},
                   {"title": "overwrite", "address.city": "overwrite"})
    assert body == {"id": "T1", "title": "New", "notes": "typed by an admin",
                    "address": {"city": "Lyon", "room": "12B"}}
    assert current == before  # the record read from the target is not changed in place


def test_a_field_our_payload_does_not_carry_is_never_cleared():
    current = {"title": "Kept", "description": "an admin's text", "address": {"city": "Paris"}}
    body = overlay(current, {"title": "Kept"},
                   {"title": "overwrite", "description": "overwrite", "address.city": "overwrite"})
    assert body == current


def test_a_path_through_a_non_record_value_counts_as_absent():
    # ours has "address" as a string, so "address.city" is not in our payload: keep theirs.
    current = {"address": {"city": "Paris"}}
    body = overlay(current, {"address": "somewhere"}, {"address.city": "overwrite"})
    assert body == {"address": {"city": "Paris"}}


def test_keep_fields_are_written_only_when_the_target_has_none():
    ownership = {"title": "overwrite", "price": "keep", "address.room": "keep"}
    ours = {"title": "New", "price": 10, "address": {"room": "1A"}}
    edited = overlay({"title": "Old", "price": 99, "address": {"room": "9Z"}}, ours, ownership)
    assert edited == {"title": "New", "price": 99, "address": {"room": "9Z"}}
    empty = overlay({"title": "Old"}, ours, ownership)
    assert empty == {"title": "New", "price": 10, "address": {"room": "1A"}}


def test_a_keep_value_of_none_in_the_target_is_the_target_s_value():
    body = overlay({"price": None}, {"price": 10}, {"price": "keep"})
    assert body == {"price": None}


def test_fields_we_write_are_copies_not_the_mapping_s_own_objects():
    ours = {"tags": ["a"], "price": {"amount": 1}}
    body = overlay({}, ours, {"tags": "overwrite", "price": "keep"})
    body["tags"].append("changed")
    body["price"]["amount"] = 2
    assert ours == {"tags": ["a"], "price": {"amount": 1}}


def test_merge_keeps_the_target_s_items_adds_ours_and_drops_only_our_old_ones():
    ownership = {"match": "merge"}
    current = {"match": ["admin-1", "Old title", "admin-2"]}
    body = overlay(current, {"match": ["New title"]}, ownership,
                   previous={"match": ["Old title"]})
    assert body == {"match": ["admin-1", "admin-2", "New title"]}


def test_merge_never_adds_an_item_twice():
    body = overlay({"match": ["a", "b"]}, {"match": ["b", "c"]}, {"match": "merge"})
    assert body == {"match": ["a", "b", "c"]}


def test_merge_without_a_previous_write_drops_nothing_of_the_target_s():
    body = overlay({"match": ["admin"]}, {"match": ["ours"]}, {"match": "merge"}, previous=None)
    assert body == {"match": ["admin", "ours"]}
    body = overlay({"match": ["admin"]}, {"match": ["ours"]}, {"match": "merge"},
                   previous={"other": 1})
    assert body == {"match": ["admin", "ours"]}


def test_merge_into_a_target_with_no_list_is_our_list():
    assert overlay({}, {"match": ["x"]}, {"match": "merge"}) == {"match": ["x"]}
    assert overlay({"match": "text"}, {"match": ["x"]}, {"match": "merge"}) == {"match": ["x"]}


def test_merge_of_a_non_list_value_is_an_overwrite():
    assert overlay({"match": ["admin"]}, {"match": "ours"}, {"match": "merge"}) == {"match": "ours"}


def test_keys_the_mapping_does_not_name_are_written_as_ours():
    # an external id key the mapping does not list in its ownership still reaches the target
    body = overlay({"name": "x", "externalId": "old"}, {"externalId": "E1", "name": "y"},
                   {"name": "keep"})
    assert body == {"name": "x", "externalId": "E1"}


def test_a_nested_key_under_a_named_parent_is_not_written_unless_named():
    body = overlay({"address": {"city": "Paris"}},
                   {"address": {"city": "Lyon", "zip": "69000"}}, {"address.city": "keep"})
    assert body == {"address": {"city": "Paris"}}


def test_an_update_payload_drops_keep_fields_and_only_those():
    ours = {"title": "T", "price": 10, "address": {"room": "1A", "city": "Lyon"}}
    before = copy.deepcopy(ours)
    body = for_update(ours, {"title": "overwrite", "price": "keep", "address.room": "keep",
                             "address.city": "merge"})
    assert body == {"title": "T", "address": {"city": "Lyon"}}
    assert ours == before  # the mapped payload (hashed, logged) keeps every field


def test_an_update_payload_tolerates_keep_paths_that_are_not_there():
    ours = {"title": "T", "address": "plain text"}
    assert for_update(ours, {"missing": "keep", "address.room": "keep",
                             "deep.er.path": "keep"}) == ours


def test_a_path_our_payload_lacks_does_not_stop_the_paths_after_it():
    body = overlay({"title": "Old", "price": 1}, {"price": 2},
                   {"title": "overwrite", "price": "overwrite"})
    assert body == {"title": "Old", "price": 2}


def test_a_deep_path_covers_its_top_level_key():
    # "a.b.c" is named, so the rest of "a" in our payload is not written over the target's
    current = {"a": {"b": {"c": 0, "admin": "x"}}}
    body = overlay(current, {"a": {"b": {"c": 1, "d": 2}}}, {"a.b.c": "keep"})
    assert body == current


def test_nested_values_we_write_are_deep_copies():
    ours = {"sessions": [{"day": 1}], "venue": {"rooms": ["A"]}}
    body = overlay({}, ours, {"sessions": "overwrite", "venue": "keep"})
    body["sessions"][0]["day"] = 9
    body["venue"]["rooms"].append("B")
    assert ours == {"sessions": [{"day": 1}], "venue": {"rooms": ["A"]}}


def test_a_record_edited_in_the_target_is_kept_or_dead_lettered_as_the_policy_says():
    """``on_conflict``: the answer a connector gives instead of writing over a target's edit."""
    request = WriteRequest("src:1", {"title": "New"}, "T1", "h0", "v1")
    kept = on_conflict(request, "T1", "v2", WritePolicy(on_conflict="target-wins"), "tgt")
    assert kept is not None
    assert (kept.key, kept.ok, kept.target_id, kept.action, kept.conflict, kept.target_version) \
        == ("src:1", True, "T1", "skipped", "changed", "v2")
    held = on_conflict(request, "T1", "v2", WritePolicy(on_conflict="dead-letter"), "tgt")
    assert held is not None
    assert (held.key, held.ok, held.target_id, held.conflict, held.target_version) == (
        "src:1", False, "T1", "changed", "v2")
    assert held.message == ("changed in tgt since our last write (version v1 → v2); the policy "
                            "asks a human to decide")
    assert on_conflict(request, "T1", "v2", WritePolicy(on_conflict="source-wins"), "tgt") is None
