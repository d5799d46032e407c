"""The Rhythm course-offering body as seed 001 documents it, as pydantic models.

Field names, types, enums and "required" marks are copied from the getcourseoffering response
schema (seed 001; seed-apis.md §2.5); create refers to the same schema (Course-Offerings tag).
Validation is strict (no "5" for a number), so a client's type slip shows up as the 400 a
schema-validating API would give. Unknown fields are kept: the docs do not say they are refused.
Our readings: ``capacity`` is at least 0; ``webinar_integration_options`` is required only when
``enable_webinar_integration`` is set (the seed marks it required, which cannot hold for an
in-person offering: ``create_app(webinar_options="always")`` switches to the literal reading);
dates must be ISO-8601 with ``Z`` (the docs' examples and §2.5).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from offering_sync.countries import ISO_3166_ALPHA2
from offering_sync.emulators.answers import EXAMPLE_DATES

__all__ = ["COUNTRIES", "TYPES", "OfferingBody"]

TYPES = ("in person", "on-demand", "virtual")
COUNTRIES = tuple(sorted(ISO_3166_ALPHA2))
Country = Literal[COUNTRIES]  # type: ignore[valid-type]


def _iso_z(value: str) -> str:
    if not value.endswith("Z"):
        raise ValueError("must be an ISO-8601 date-time in UTC ending in Z")
    try:
        datetime.fromisoformat(value[:-1] + "+00:00")
    except ValueError:
        raise ValueError("must be an ISO-8601 date-time in UTC ending in Z") from None
    return value


IsoZ = Annotated[str, AfterValidator(_iso_z),
                 Field(json_schema_extra={"format": "date-time", "pattern": EXAMPLE_DATES})]
"""Checked by parsing; the OpenAPI pattern only describes the usual form, for fuzzing."""
Text = Annotated[str, Field(min_length=1)]


class _Part(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)


class Address(_Part):
    """``address``: "A complete address"; ``country`` is the documented ISO enum."""

    city: str | None = None
    country: Country | None = None
    country_name: str | None = None
    county: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    line1: str | None = None
    line2: str | None = None
    line3: str | None = None
    postal_code: str | None = None
    state: str | None = None
    time_zone_id: str | None = None


class CapacityOptions(_Part):
    """``capacity_options.capacity`` (number, required)."""

    capacity: float = Field(ge=0)


class Credit(_Part):
    """``credits_to_assign[]``: ``credit_type_id`` and ``quantity`` required."""

    credit_type_id: Text
    quantity: float
    automatically_verify: bool | None = None


class CustomFieldValue(_Part):
    """``custom_field_values[]``: one typed value per custom field."""

    custom_field_id: str | None = None
    boolean_value: bool | None = None
    file_url_value: str | None = None
    list_value: list[Any] | None = None
    numeric_value: float | None = None
    string_value: str | None = None
    table_value: list[dict[str, Any]] | None = None


class CustomLogic(_Part):
    """``eligibility_requirements.custom_logic_options``: ``lambda_function_id`` required."""

    lambda_function_id: Text


class Entitlement(_Part):
    """``eligibility_requirements.entitlement_restrictions[]``: ``type_id`` required."""

    type_id: Text
    quantity: float | None = None


class AwardOptions(_Part):
    """``eligibility_requirements.award_options``."""

    award_ids: list[str] | None = None
    award_type_ids: list[str] | None = None
    logic_operator: Literal["and", "not"] | None = None


class MemberOptions(_Part):
    """``eligibility_requirements.member_options``."""

    member_package_ids: list[str] | None = None
    member_status_reason_ids: list[str] | None = None
    member_statuses: list[Literal["active", "inactive", "suspended"]] | None = None
    member_type_ids: list[str] | None = None
    chapter_members: bool | None = None
    section_members: bool | None = None


class Eligibility(_Part):
    """``eligibility_requirements`` (object, required): "The criteria to use"."""

    advanced_rule_error_message: str | None = None
    advanced_rules: dict[str, Any] | None = None
    award_options: AwardOptions | None = None
    award_recipients: bool | None = None
    by_location: bool | None = None
    certificants: bool | None = None
    custom_logic_options: CustomLogic | None = None
    customer_type: Literal["contact", "organization"] | None = None
    donors: bool | None = None
    enable_advanced_rules: bool | None = None
    enable_age_restrictions: bool | None = None
    enable_custom_logic: bool | None = None
    enable_entitlement_restrictions: bool | None = None
    enable_expression: bool | None = None
    enable_organization_restrictions: bool | None = None
    enable_status_restriction: bool | None = None
    entitlement_restrictions: list[Entitlement] | None = None
    expression: str | None = None
    expression_error_message: str | None = None
    member_options: MemberOptions | None = None
    members: bool | None = None
    non_members: bool | None = None
    status_restrictions: list[str] | None = None
    use_organization_for_eligibility: bool | None = None


class WebinarOptions(_Part):
    """``webinar_integration_options``: ``webinar_account_id`` and ``webinar_service``."""

    webinar_account_id: Text
    webinar_service: Literal["integrations-zoom-accounts"]
    type: Literal["meeting", "webinar"] | None = None
    meeting_id: str | None = None
    webinar_id: str | None = None


class OfferingBody(_Part):
    """A course offering as a create or full-replacement body (seed 001's schema)."""

    id: str | None = Field(default=None, description="refused on create (Course-Offerings tag)")
    name: Text
    course_id: Text
    start_date: IsoZ
    end_date: IsoZ
    timezone: Text
    training_location_id: Text
    training_provider_id: Text
    capacity_options: CapacityOptions
    credits_to_assign: list[Credit]
    eligibility_requirements: Eligibility
    webinar_integration_options: WebinarOptions | None = None
    type: Literal[TYPES] | None = None  # type: ignore[valid-type]
    timezone_mode: Literal["local", "specific timezone"] | None = None
    timezone_abbreviation: str | None = None
    timezone_offset: float | None = None
    address: Address | None = None
    additional_instructor_ids: list[str] | None = None
    instructor_names: list[str] | None = None
    program_ids: list[str] | None = None
    custom_field_values: list[CustomFieldValue] | None = None
    course_type_id: str | None = None
    description: str | None = None
    short_description: str | None = None
    event_id: str | None = None
    fee_id: str | None = None
    instructor_id: str | None = None
    meeting_url: str | None = None
    survey_url: str | None = None
    webinar_url: str | None = None
    enable_capacity: bool | None = None
    enable_eligibility_requirements: bool | None = None
    enable_webinar_integration: bool | None = None
    override_credit_assignment: bool | None = None
    publish_to_portal: bool | None = None
    sell_from: IsoZ | None = None
    sell_until: IsoZ | None = None
    sys_external_id: str | None = None
    sys_locked: bool | None = None
    sys_version: int | None = Field(default=None, description="the version read (PUT)")
