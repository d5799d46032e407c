"""Change detection: a stable content hash of a target payload, and the plan it implies."""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal

__all__ = ["Action", "content_hash", "plan_action"]

Action = Literal["create", "update", "unchanged"]


def content_hash(payload: Any) -> str:
    """A 128-bit BLAKE2b of the payload's canonical JSON (key order does not matter)."""
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      default=str)
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()


def plan_action(known_hash: str | None, linked: bool, new_hash: str) -> Action:
    """New to the target → create; linked with another hash (or unconfirmed) → update."""
    if not linked:
        return "create"
    if known_hash == new_hash:
        return "unchanged"
    return "update"
