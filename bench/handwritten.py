"""The DigitalChalk → canonical mapping written by hand, for the mapping benchmark.

It must produce exactly what ``mappings/digitalchalk_to_canonical.yaml`` produces; the harness
checks that on every record before timing either.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any


def _instant(text: str) -> datetime:
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    return datetime.fromisoformat(text).astimezone(UTC)


def map_digitalchalk(r: dict[str, Any]) -> dict[str, Any]:
    """DigitalChalk offering → canonical dict, the obvious way."""
    out: dict[str, Any] = {"source_system": "digitalchalk", "source_id": str(r["id"]),
                           "external_id": f"digitalchalk:{r['id']}",
                           "title": r["title"].strip()}
    description = r.get("catalogDescription") or r.get("summary")
    if description:
        out["description"] = description
    if "dashboardDescription" in r:
        out["short_description"] = r["dashboardDescription"]
    if "deliveryDescription" in r:
        out["delivery_description"] = r["deliveryDescription"]
    out["delivery_type"] = "on_demand"
    if "beginDate" in r:
        out["starts_at"] = _instant(r["beginDate"])
    if "endDate" in r:
        out["ends_at"] = _instant(r["endDate"])
    if "registrationBeginDate" in r:
        out["registration_opens_at"] = _instant(r["registrationBeginDate"])
    if "registrationEndDate" in r:
        out["registration_closes_at"] = _instant(r["registrationEndDate"])
    if "price" in r:
        out["price"] = Decimal(repr(r["price"])) if isinstance(r["price"], float) \
            else Decimal(r["price"])
    if "currencyCode" in r:
        out["currency"] = r["currencyCode"].strip().upper()
    out["categories"] = list(r.get("offeringCategoryIds", []))
    out["tags"] = list(r.get("tags", []))
    if "orderIndex" in r:
        out["order_index"] = int(r["orderIndex"])
    if "createdDate" in r:
        out["created_at"] = _instant(r["createdDate"])
    if "beginDate" in r:
        out["term_ref"] = f"{out['starts_at'].year:04d}"
    categories = r.get("offeringCategoryIds")
    if categories:
        out["course_ref"] = categories[0]
    return out
