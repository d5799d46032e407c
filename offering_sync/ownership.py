"""Field ownership on update: write only what the mapping owns, keep everything else.

Also the conflict rule every target applies the same way (``on_conflict``).

Targets whose update replaces the whole record (Rhythm PUT, SmarterProctoring PUT) read the
current record and ``overlay`` our fields on it; targets that update field by field (the
Salesforce bulk POST) send ``for_update``'s payload, which drops ``keep`` fields. A field our
payload does not carry is never cleared: a source with no value for it does not erase what an
administrator typed in the target. Nor does a value that only came from the mapping's
``default`` (``defaulted``): it fills a field on create, and an update treats it as ``keep``.
"""

from __future__ import annotations

import copy
from collections.abc import Collection, Mapping
from typing import Any

from offering_sync.records import FieldOwnership, LoadResult, WritePolicy, WriteRequest

__all__ = ["for_update", "on_conflict", "overlay"]

_ABSENT = object()


def _get(record: Mapping[str, Any], path: str) -> Any:
    node: Any = record
    for key in path.split("."):
        if not isinstance(node, Mapping) or key not in node:
            return _ABSENT
        node = node[key]
    return node


def _set(record: dict[str, Any], path: str, value: Any) -> None:
    keys = path.split(".")
    node = record
    for key in keys[:-1]:
        child = node.get(key)
        if not isinstance(child, dict):
            child = node[key] = {}
        node = child
    node[keys[-1]] = value


def _merge(theirs: Any, ours: Any, before: Any) -> Any:
    """Lists: the target's items (less ours that we no longer send), then ours it lacks."""
    if not isinstance(ours, list):
        return ours
    dropped = [i for i in before if i not in ours] if isinstance(before, list) else []
    base = [i for i in theirs if i not in dropped] if isinstance(theirs, list) else []
    return base + [item for item in ours if item not in base]


def overlay(current: Mapping[str, Any], ours: Mapping[str, Any],
            ownership: Mapping[str, FieldOwnership],
            previous: Mapping[str, Any] | None = None,
            defaulted: Collection[str] = ()) -> dict[str, Any]:
    """``current`` with our owned fields written over it; nothing else changes.

    ``ownership`` names the fields the mapping produces (dotted paths); a path our payload does
    not carry is left as the target has it. ``previous`` is what we last wrote, so a ``merge``
    list drops our own old items (a renamed offering stops matching its old title) while the
    target's own stay. ``defaulted`` paths hold the mapping's default, not a source value:
    they are set only where the target has no value (as ``keep``).
    """
    body = copy.deepcopy(dict(current))
    for path in _paths(ours, ownership):
        value = _get(ours, path)
        if value is _ABSENT:
            continue
        rule = "keep" if path in defaulted else ownership.get(path, "overwrite")
        if rule == "keep":
            if _get(body, path) is _ABSENT:
                _set(body, path, copy.deepcopy(value))
            continue
        if rule == "merge":
            theirs = _get(body, path)
            before = _get(previous, path) if previous is not None else None
            value = _merge(None if theirs is _ABSENT else theirs, value,
                           None if before is _ABSENT else before)
        _set(body, path, copy.deepcopy(value))
    return body


def for_update(ours: Mapping[str, Any], ownership: Mapping[str, FieldOwnership],
               defaulted: Collection[str] = ()) -> dict[str, Any]:
    """Our payload without the fields that are ours on create only.

    Those are the ``keep`` fields and the ones holding only the mapping's default (``defaulted``).
    """
    body = copy.deepcopy(dict(ours))
    for path in [*(p for p, rule in ownership.items() if rule == "keep"), *defaulted]:
        keys = path.split(".")
        node: Any = body
        for key in keys[:-1]:
            node = node.get(key) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node.pop(keys[-1], None)
    return body


def on_conflict(request: WriteRequest, target_id: str, version: str | None,
                policy: WritePolicy, system: str) -> LoadResult | None:
    """The policy's answer for a record changed in the target since our last write.

    Its version differs from ``request.target_version``. Returns the result to give instead of
    writing, or ``None`` to write anyway (``source-wins``; the caller marks it ``conflict``).
    """
    what = (f"changed in {system} since our last write (version "
            f"{request.target_version} → {version})")
    if policy.on_conflict == "target-wins":
        return LoadResult(request.key, ok=True, target_id=target_id, action="skipped",
                          conflict="changed", target_version=version)
    if policy.on_conflict == "dead-letter":
        return LoadResult(request.key, ok=False, target_id=target_id, conflict="changed",
                          target_version=version,
                          errors=((None, f"{what}; the policy asks a human to decide"),))
    return None  # source-wins: write, and say so


def _paths(ours: Mapping[str, Any], ownership: Mapping[str, FieldOwnership]) -> list[str]:
    """The owned paths, plus top-level keys of ours the mapping did not name (e.g. a key)."""
    named = list(ownership)
    covered = {p.split(".", 1)[0] for p in named}
    return named + [k for k in ours if k not in covered]
