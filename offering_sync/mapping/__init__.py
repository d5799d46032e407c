"""Declarative mappings: YAML specs validated on load and compiled once into plain functions."""

from offering_sync.mapping.compiler import CompiledMapping, MappingContext, compile_mapping
from offering_sync.mapping.loader import load_mapping, load_mapping_text
from offering_sync.mapping.lookups import LookupResolver, StaticLookups
from offering_sync.mapping.spec import FieldRule, MappingSpec

__all__ = [
    "CompiledMapping",
    "FieldRule",
    "LookupResolver",
    "MappingContext",
    "MappingSpec",
    "StaticLookups",
    "compile_mapping",
    "load_mapping",
    "load_mapping_text",
]
