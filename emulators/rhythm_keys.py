"""Rhythm listing continuation keys, as the emulator hands them out and checks them.

Our reading (seed-apis.md §2.4: the name and encoding of the next-page key are not documented):
DynamoDB's ``LastEvaluatedKey``, by default an object ``{"tenant_id", "id"}`` that comes back
JSON-encoded in ``exclusiveStartKey``; in ``"string"`` mode an opaque string that comes back as
is. Anything else (a Python repr, members re-ordered or missing, another tenant's) is refused.
"""

from __future__ import annotations

import base64
import json
from typing import Any, Literal

from offering_sync.emulators.answers import VendorError

__all__ = ["Paging", "key_in", "key_out"]

Paging = Literal["object", "string", "array"]


class _Pairs(list[tuple[str, Any]]):
    """A JSON object's members in the order they were written."""


def key_out(paging: Paging, tenant_id: str, last_id: str) -> Any:
    """``LastEvaluatedKey`` after ``last_id``: an object, or an opaque string."""
    if paging == "object":
        return {"tenant_id": tenant_id, "id": last_id}
    raw = json.dumps([tenant_id, last_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def key_in(paging: Paging, tenant_id: str, given: str | None) -> str | None:
    """The id to continue after, when ``given`` is exactly a key this listing handed out.

    Raises:
        VendorError: 400 for anything else (a Python repr, keys re-ordered or missing).
    """
    if given is None:
        return None
    refused = VendorError(400, "exclusiveStartKey is not a LastEvaluatedKey of this listing")
    if paging == "object":
        try:
            pairs = json.loads(given, object_pairs_hook=_Pairs)
        except (ValueError, RecursionError):
            raise refused from None
        if not isinstance(pairs, _Pairs) or [k for k, _ in pairs] != ["tenant_id", "id"] \
                or pairs[0][1] != tenant_id or not isinstance(pairs[1][1], str):
            raise refused
        return pairs[1][1]
    try:
        decoded = json.loads(base64.urlsafe_b64decode(given + "=" * (-len(given) % 4)))
    except (ValueError, RecursionError):
        raise refused from None
    if not (isinstance(decoded, list) and len(decoded) == 2 and decoded[0] == tenant_id
            and isinstance(decoded[1], str)) or key_out(paging, *decoded) != given:
        raise refused
    return str(decoded[1])
