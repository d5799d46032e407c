"""The two mappings of a DigitalChalk → Salesforce sync written by hand, for the mapping benchmark.

They must produce exactly what ``mappings/digitalchalk_to_canonical.yaml`` and
``mappings/canonical_to_salesforce.yaml`` produce; the harness checks that on every record before
timing either.
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


def map_salesforce(o: Any, sessions: list[tuple[datetime, datetime, str]],
                   courses: dict[str, str], external_id_field: str) -> dict[str, Any]:
    """Canonical ``Offering`` → Salesforce bulk item, as ``canonical_to_salesforce.yaml`` says.

    ``sessions`` are (class start, class end, id) of the org's AcademicSessions; ``courses``
    are CourseNumber → LearningCourse id (``OFFERING-SYNC-DEFAULT`` is the fallback).
    """
    def millis(d: datetime) -> str:
        d = d.astimezone(UTC)
        return f"{d:%Y-%m-%dT%H:%M:%S}.{d.microsecond // 1000:03d}Z"

    item: dict[str, Any] = {"courseOfferingExternalId": {"fieldName": external_id_field,
                                                         "fieldValue": o.external_id}}
    if o.title is not None:
        if len(o.title) > 255:
            raise ValueError("courseOffering.courseOfferingName: longer than 255 characters")
        item["courseOfferingName"] = o.title
    found = [sid for start, end, sid in sessions
             if o.starts_at is not None and start <= o.starts_at <= end]
    if len(found) != 1:
        raise ValueError("courseOffering.academicSessionId: no single session")
    item["academicSessionId"] = found[0]
    key = o.course_ref if o.course_ref else o.source_system
    item["learningCourseId"] = courses.get(str(key), courses["OFFERING-SYNC-DEFAULT"])
    if o.starts_at is None:
        raise ValueError("courseOffering.startDate is required")
    item["startDate"] = millis(o.starts_at)
    if o.ends_at is not None:
        item["endDate"] = millis(o.ends_at)
    if o.description is not None:
        item["description"] = o.description
    item["isActive"] = o.active if o.active is not None else True
    for name, value in (("enrollmentCapacity", o.capacity),
                        ("waitlistedCapacity", o.waitlist_capacity),
                        ("sectionNumber", o.section_number),
                        ("primaryFacultyId", o.primary_instructor)):
        if value is not None:
            item[name] = value
    if o.custom_attributes:
        item["courseOfferingCustomAttribute"] = [{"fieldName": k, "fieldValue": v}
                                                 for k, v in o.custom_attributes.items()]
    if o.schedules:
        item["courseOfferingSchedule"] = [_schedule(s) for s in o.schedules]
    return {"courseOffering": item}


def _schedule(s: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if s.rrule is not None:
        out["recurrencePattern"] = s.rrule
    if s.start_date is not None:
        out["startDate"] = s.start_date.isoformat()
    for name, value in (("startTime", s.start_time), ("endTime", s.end_time)):
        if value is not None:
            out[name] = value.strftime("%H:%M:%S.") + f"{value.microsecond // 1000:03d}"
    for name, value in (("location", s.location), ("type", s.type),
                        ("description", s.description)):
        if value is not None:
            out[name] = value
    return out
