"""Pydantic models of a mapping file: what the YAML may say, checked before anything runs."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["SOURCE_KEYS", "FieldRule", "MappingSpec"]

SOURCE_KEYS = ("from_", "const", "template", "coalesce", "setting", "first_of", "each")
_ONE_SOURCE = ("from_", "const", "template", "coalesce", "setting", "first_of")


class FieldRule(BaseModel):
    """Where one output field's value comes from, and what happens to it on the way."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    from_: str | None = Field(default=None, alias="from")
    const: Any = None
    template: str | None = None
    coalesce: list[str] | None = None
    setting: str | None = None
    first_of: list[FieldRule] | None = Field(
        default=None, description="Rules tried in order; the first that gives a value wins.")
    each: dict[str, FieldRule] | None = Field(
        default=None, description="Map every item of the list at `from` with these rules.")
    transforms: list[str | dict[str, Any]] = Field(default_factory=list)
    default: Any = None
    missing: Literal["omit", "null", "default", "error"] = "omit"
    on_update: Literal["overwrite", "keep", "merge"] = Field(
        default="overwrite", description="What an update does to this target field: ours "
        "(overwrite), set on create only (keep), or add our list items to the target's (merge).")

    @model_validator(mode="after")
    def _one_source(self) -> FieldRule:
        given = [k for k in _ONE_SOURCE if k in self.model_fields_set]
        if len(given) != 1:
            names = [g.rstrip("_") for g in given]
            raise ValueError("a field needs exactly one of from, const, template, coalesce, "
                             f"setting, first_of (got {names or 'none'})")
        if self.first_of is not None and not self.first_of:
            raise ValueError("first_of needs at least one rule")
        if self.each is not None and given != ["from_"]:
            raise ValueError("`each` needs `from` (the list to map)")
        if self.missing == "default" and "default" not in self.model_fields_set:
            raise ValueError("missing: default needs a `default`")
        return self

    @property
    def has_default(self) -> bool:
        """Whether the file gave a ``default`` (``null`` counts)."""
        return "default" in self.model_fields_set


class MappingSpec(BaseModel):
    """One mapping file: from one side to the other, one rule per output field."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    version: Literal[1]
    from_: str = Field(alias="from", min_length=1)
    to: str = Field(min_length=1)
    description: str | None = None
    fields: dict[str, FieldRule]

    @model_validator(mode="after")
    def _one_side_canonical(self) -> MappingSpec:
        if "canonical" not in (self.from_, self.to):
            raise ValueError("one side of a mapping must be `canonical`")
        if not self.fields:
            raise ValueError("a mapping needs at least one field")
        return self
