"""The canonical ``Offering``: the union of what the four systems know about a course offering.

Every system maps into and out of this one model. Instants are timezone-aware UTC; the
offering's own IANA zone is kept beside them. ``validate_offering`` turns pydantic's errors
into an ``InvalidRecord`` naming the record, the field and the bad value.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from offering_sync.countries import ISO_3166_ALPHA2
from offering_sync.errors import InvalidRecord

__all__ = ["Address", "DeliveryType", "Offering", "Schedule", "validate_offering"]

_CURRENCY = re.compile(r"^[A-Z]{3}$")


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


def _zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown IANA timezone {value!r}") from exc
    return value


def _country(value: str) -> str:
    code = value.upper()
    if code not in ISO_3166_ALPHA2:
        raise ValueError(f"not an ISO 3166 alpha-2 country code: {value!r}")
    return code


def _currency(value: str) -> str:
    code = value.upper()
    if not _CURRENCY.match(code):
        raise ValueError(f"not an ISO 4217 currency code: {value!r}")
    return code


UtcDatetime = Annotated[AwareDatetime, AfterValidator(_utc)]
Timezone = Annotated[str, AfterValidator(_zone)]
Country = Annotated[str, AfterValidator(_country)]
Currency = Annotated[str, AfterValidator(_currency)]
# pydantic refuses lone surrogates (a feed's invalid "\udcff" escapes) for every str field.
Text = Annotated[str, Field(max_length=65_536)]
Name = Annotated[str, Field(min_length=1, max_length=255)]


class DeliveryType(StrEnum):
    """How an offering is delivered."""

    IN_PERSON = "in_person"
    VIRTUAL = "virtual"
    ON_DEMAND = "on_demand"
    HYBRID = "hybrid"


class _Part(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=False)


class Address(_Part):
    """A postal address; ``country`` is ISO 3166 alpha-2."""

    line1: Text | None = None
    line2: Text | None = None
    line3: Text | None = None
    city: Text | None = None
    state: Text | None = None
    postal_code: Text | None = None
    country: Country | None = None


class Schedule(_Part):
    """One meeting pattern: an RRULE with local start/end times."""

    external_id: Text | None = None
    rrule: Text | None = None
    start_date: date | None = None
    start_time: time | None = None
    end_time: time | None = None
    location: Text | None = None
    type: Text | None = None
    description: Text | None = None

    @model_validator(mode="after")
    def _times_in_order(self) -> Schedule:
        if self.start_time and self.end_time and self.end_time < self.start_time:
            raise ValueError("end_time is before start_time")
        return self


class Offering(_Part):
    """One course offering, as every system's mapping sees it."""

    # identity
    source_system: Annotated[str, Field(min_length=1)]
    source_id: Name
    external_id: Name
    # what it is
    title: Name
    description: Text | None = None
    short_description: Text | None = None
    delivery_description: Text | None = None
    course_ref: Text | None = None
    term_ref: Text | None = None
    section_number: Annotated[int, Field(ge=0)] | None = None
    active: bool | None = None
    delivery_type: DeliveryType | None = None
    # when
    starts_at: UtcDatetime | None = None
    ends_at: UtcDatetime | None = None
    timezone: Timezone | None = None
    registration_opens_at: UtcDatetime | None = None
    registration_closes_at: UtcDatetime | None = None
    # how many, how much
    capacity: Annotated[int, Field(ge=0)] | None = None
    waitlist_capacity: Annotated[int, Field(ge=0)] | None = None
    price: Annotated[Decimal, Field(ge=0, allow_inf_nan=False)] | None = None
    currency: Currency | None = None
    # where, who
    location_ref: Text | None = None
    address: Address | None = None
    primary_instructor: Text | None = None
    additional_instructors: tuple[Text, ...] = ()
    # grouping
    tags: tuple[Text, ...] = ()
    categories: tuple[Text, ...] = ()
    match_strings: tuple[Text, ...] = ()
    order_index: int | None = None
    schedules: tuple[Schedule, ...] = ()
    custom_attributes: dict[str, str | int | float | bool | None] = Field(default_factory=dict)
    # bookkeeping from the source
    created_at: UtcDatetime | None = None
    modified_at: UtcDatetime | None = None
    version: int | None = None

    @model_validator(mode="after")
    def _dates_in_order(self) -> Offering:
        if self.starts_at and self.ends_at and self.ends_at < self.starts_at:
            raise ValueError("ends_at is before starts_at")
        opens, closes = self.registration_opens_at, self.registration_closes_at
        if opens and closes and closes < opens:
            raise ValueError("registration_closes_at is before registration_opens_at")
        return self


def validate_offering(data: dict[str, Any], *, key: str | None = None) -> Offering:
    """Build an ``Offering`` or raise ``InvalidRecord`` naming the record, field and value."""
    try:
        return Offering.model_validate(data)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        field = ".".join(str(p) for p in first["loc"]) or None
        value = first.get("input") if first["loc"] else None
        raise InvalidRecord(first["msg"], key=key or data.get("external_id"), field=field,
                            value=value) from None


OFFERING_FIELDS: frozenset[str] = frozenset(Offering.model_fields)
