"""What the emulated org holds: course offerings, academic sessions, learning courses, tokens.

Object and field names follow the Education Cloud object reference: ``AcademicSession`` has
``ClassStartDate``/``ClassEndDate`` (dateTime), ``Name`` and ``IsActive``; ``LearningCourse`` has
``Name``, ``CourseNumber`` and ``IsActive`` (the LearningCourse DLO mapping lists CourseNumber);
``CourseOffering`` (v57.0+) the fields the object page lists. Ids are 18 characters with the key
prefixes the vendor's examples show (``0vc`` session, ``0vY`` course, ``0xA`` offering).
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass, field
from typing import Any

__all__ = ["DESCRIBE", "Org", "demo_reference_data"]

_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
DEFAULT_EXTERNAL_ID_FIELD = "OfferingSyncExternalId__c"
DEFAULT_COURSE_NUMBER = "OFFERING-SYNC-DEFAULT"


class Org:
    """The emulated org's records, keyed by id, with an external-ID index for offerings."""

    def __init__(self, *, reference_data: bool = True) -> None:
        self.offerings: dict[str, dict[str, Any]] = {}
        self.by_external: dict[tuple[str, str], str] = {}
        self.sessions: dict[str, dict[str, Any]] = {}
        self.courses: dict[str, dict[str, Any]] = {}
        self.lock = threading.Lock()
        self._ids = itertools.count(1)
        if reference_data:
            demo_reference_data(self)

    def new_id(self, prefix: str) -> str:
        """An 18-character Salesforce-shaped id."""
        n, chars = next(self._ids), []
        for _ in range(12):
            n, rem = divmod(n, 62)
            chars.append(_BASE62[rem])
        return prefix + "".join(reversed(chars)) + "AAA"

    def add_session(self, name: str, starts: str, ends: str, *, active: bool = True) -> str:
        """An AcademicSession; ``starts``/``ends`` as Salesforce dateTimes (``…+0000``)."""
        record_id = self.new_id("0vc")
        self.sessions[record_id] = {"Id": record_id, "Name": name, "ClassStartDate": starts,
                                    "ClassEndDate": ends, "IsActive": active}
        return record_id

    def add_course(self, name: str, number: str | None, *, active: bool = True) -> str:
        """A LearningCourse."""
        record_id = self.new_id("0vY")
        self.courses[record_id] = {"Id": record_id, "Name": name, "CourseNumber": number,
                                   "IsActive": active}
        return record_id

    def table(self, sobject: str) -> dict[str, dict[str, Any]] | None:
        """The reference records of ``sobject`` (AcademicSession, LearningCourse), if any."""
        return {"AcademicSession": self.sessions, "LearningCourse": self.courses}.get(sobject)


def demo_reference_data(org: Org) -> None:
    """Sessions for the calendar years 2024-2027 and a default course: what the demo syncs into.

    The demo catalogs start offerings in 2025 and 2026; the default course is the one the bundled
    mapping falls back to when an offering's own course is not in the org.
    """
    for year in range(2024, 2028):
        org.add_session(f"{year}", f"{year}-01-01T00:00:00.000+0000",
                        f"{year}-12-31T23:59:59.000+0000")
    org.add_course("Offerings synced without a course of their own", DEFAULT_COURSE_NUMBER)
    for number, name in (("digitalchalk", "DigitalChalk online catalog"),
                         ("rhythm", "Rhythm certifications"),
                         ("smarterproctoring", "Proctored exams")):
        org.add_course(name, number)


@dataclass(frozen=True)
class Field:
    """One row of a describe answer's ``fields``."""

    name: str
    type: str
    label: str = ""
    external_id: bool = False
    nillable: bool = True
    extra: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        """As the describe resource lists it."""
        return {"name": self.name, "type": self.type, "label": self.label or self.name,
                "externalId": self.external_id, "nillable": self.nillable,
                "filterable": True, "createable": self.name not in ("Id", "SystemModstamp",
                                                                     "CreatedDate"),
                "updateable": self.name not in ("Id", "SystemModstamp", "CreatedDate"),
                **self.extra}


def _system_fields() -> list[Field]:
    return [Field("Id", "id", "Record ID", nillable=False),
            Field("CreatedDate", "datetime", nillable=False),
            Field("SystemModstamp", "datetime", nillable=False)]


DESCRIBE: dict[str, list[Field]] = {
    "CourseOffering": [*_system_fields(), Field("Name", "string"),
                       Field("AcademicSessionId", "reference"),
                       Field("LearningCourseId", "reference"), Field("StartDate", "datetime"),
                       Field("EndDate", "datetime"), Field("IsActive", "boolean"),
                       Field("EnrollmentCapacity", "int"), Field("WaitlistCapacity", "int"),
                       Field("SectionNumber", "int"), Field("PrimaryFacultyId", "reference"),
                       Field("Description", "textarea"), Field("AvailabilityStatus", "picklist"),
                       Field("EnrolleeCount", "int")],
    "AcademicSession": [*_system_fields(), Field("Name", "string"),
                        Field("ClassStartDate", "datetime"), Field("ClassEndDate", "datetime"),
                        Field("IsActive", "boolean"), Field("AcademicTermId", "reference")],
    "LearningCourse": [*_system_fields(), Field("Name", "string"),
                       Field("CourseNumber", "string"), Field("IsActive", "boolean"),
                       Field("Description", "textarea")],
}
