"""Change detection: a stable content hash of a target payload, and the plan it implies.

The hash is of the payload's canonical JSON text. Stored link hashes depend on that text byte for
byte, so it must never change: a different text for the same payload would make every linked
record look changed and rewrite all of them once.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal

__all__ = ["Action", "canonical_json", "content_hash", "hash_text", "plan_action"]

Action = Literal["create", "update", "unchanged"]

# One encoder for every call: ``json.dumps`` with options builds a new one each time, which was
# about a fifth of the hash's cost. Same options, so the same text as before.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                              default=str)


def canonical_json(payload: Any) -> str:
    """The payload as compact JSON with sorted keys (non-JSON values as ``str``)."""
    return _CANONICAL.encode(payload)


def hash_text(text: str) -> str:
    """The 128-bit BLAKE2b of a canonical JSON text (``content_hash`` = this of that)."""
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()


def content_hash(payload: Any) -> str:
    """A 128-bit BLAKE2b of the payload's canonical JSON (key order does not matter).

    A caller that also stores the text can call ``canonical_json`` once and ``hash_text`` on it,
    instead of serializing the payload twice.
    """
    return hash_text(_CANONICAL.encode(payload))


def plan_action(known_hash: str | None, linked: bool, new_hash: str) -> Action:
    """New to the target → create; linked with another hash (or unconfirmed) → update."""
    if not linked:
        return "create"
    if known_hash == new_hash:
        return "unchanged"
    return "update"
