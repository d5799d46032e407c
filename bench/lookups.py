"""The emulated Salesforce org's reference data as lookups, so the benchmark maps payloads
exactly as a sync against the served emulator does (sessions and courses from the org)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

__all__ = ["org_lookups", "session_ranges", "course_numbers"]


def _org() -> Any:
    from offering_sync.emulators.salesforce import Org

    return Org()  # the same reference records every served emulator starts with


def org_lookups() -> dict[str, Any]:
    """``MappingContext.lookups`` for the Salesforce mapping, from the emulated org."""
    from offering_sync.mapping import StaticLookups

    org = _org()
    return {"salesforce": StaticLookups({"AcademicSession": list(org.sessions.values()),
                                         "LearningCourse": list(org.courses.values())})}


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("+0000", "+00:00").replace("Z", "+00:00"))


def session_ranges() -> list[tuple[datetime, datetime, str]]:
    """(class start, class end, id) of each AcademicSession, for the hand-written mapping."""
    return [(_instant(s["ClassStartDate"]), _instant(s["ClassEndDate"]), s["Id"])
            for s in _org().sessions.values()]


def course_numbers() -> dict[str, str]:
    """CourseNumber → LearningCourse id, for the hand-written mapping."""
    return {c["CourseNumber"]: c["Id"] for c in _org().courses.values() if c["CourseNumber"]}
