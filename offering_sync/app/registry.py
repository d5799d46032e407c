"""The systems offering-sync knows: every ``SystemSpec`` installed under the entry-point group.

Built from ``importlib.metadata`` entry points, so a third-party package adds a system by
declaring one in its own pyproject.toml; nothing here names a vendor.
"""

from __future__ import annotations

from functools import cache
from importlib.metadata import entry_points

from offering_sync.errors import ConfigError
from offering_sync.plugin import ENTRY_POINT_GROUP, SystemSpec
from offering_sync.records import Source, Target

__all__ = ["all_systems", "build_source", "build_target", "system"]


@cache
def all_systems() -> dict[str, SystemSpec]:
    """Every installed system by slug, in a stable order (ours first, then by name)."""
    found: dict[str, SystemSpec] = {}
    for point in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda p: p.name):
        try:
            spec = point.load()
        except Exception as exc:  # noqa: BLE001 - one broken plugin must not hide the others
            raise ConfigError(f"system plugin {point.name!r} ({point.value}) failed to load: "
                              f"{exc.__class__.__name__}: {exc}") from None
        if not isinstance(spec, SystemSpec):
            raise ConfigError(f"entry point {point.name!r} ({point.value}) is not a SystemSpec")
        if spec.slug != point.name:
            raise ConfigError(f"entry point {point.name!r} declares system {spec.slug!r}; the "
                              "names must match")
        found[spec.slug] = spec
    return found


def system(slug: str) -> SystemSpec:
    """The system named ``slug``, or a ``ConfigError`` listing the known ones."""
    known = all_systems()
    spec = known.get(slug)
    if spec is None:
        raise ConfigError(f"unknown system {slug!r}; known systems: {', '.join(known)}")
    return spec


def build_source(slug: str) -> Source:
    """A source connector for ``slug`` configured from the environment."""
    spec = system(slug)
    if spec.make_source is None:
        raise ConfigError(f"{slug} cannot be a source ({spec.note or 'no read API'})")
    return spec.make_source()


def build_target(slug: str) -> Target:
    """A target connector for ``slug`` configured from the environment."""
    spec = system(slug)
    if spec.make_target is None:
        raise ConfigError(f"{slug} cannot be a target ({spec.note or 'no write API'})")
    return spec.make_target()
