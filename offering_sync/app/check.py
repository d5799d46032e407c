"""``offering-sync check``: run each configured system's read-only checks, one line per check.

Which systems: the ones named, else every installed system with at least one of its settings
present (environment or ``.env``). Each system's plugin does the vendor work behind
``SystemSpec.check``; this module only chooses, runs and shapes the answer. A system without a
check, or whose check crashes, still gets a line, so the output never hides a system.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError

from offering_sync.app.registry import all_systems, system
from offering_sync.errors import ConfigError
from offering_sync.plugin import Check, SystemSpec

__all__ = ["as_dict", "configured_systems", "render_line", "run_checks"]


def _configured(spec: SystemSpec) -> bool:
    try:
        return bool(spec.settings_class().model_fields_set)
    except ValidationError:
        return True  # set, but wrong: worth checking


def configured_systems() -> list[str]:
    """Installed systems with any of their settings present."""
    return [slug for slug, spec in all_systems().items() if _configured(spec)]


def run_checks(names: Sequence[str] = ()) -> list[Check]:
    """Every check line for ``names`` (default: the configured systems).

    Raises:
        ConfigError: a name is unknown, or nothing is configured and nothing was named.
    """
    chosen = list(names) or configured_systems()
    if not chosen:
        raise ConfigError("no system is configured: set OFFERING_SYNC_<SYSTEM>_* settings (see "
                          "`offering-sync systems`), or name systems to check")
    lines: list[Check] = []
    for slug in chosen:
        spec = system(slug)
        if spec.check is None:
            lines.append(Check(slug, "check", False, f"{spec.title} offers no connection check",
                               "ask the plugin's authors for one"))
            continue
        try:
            lines.extend(spec.check())
        except Exception as exc:  # noqa: BLE001 - one plugin's crash must not hide the others
            lines.append(Check(slug, "check", False,
                               f"the check itself failed: {exc.__class__.__name__}: {exc}",
                               "report this to the plugin's authors"))
    return lines


def render_line(line: Check) -> str:
    """``✓ system · what: detail`` or ``✗ system · what: detail → fix``."""
    text = f"{'✓' if line.ok else '✗'} {line.system} · {line.name}: {line.detail}"
    if not line.ok and line.fix:
        text += f" → {line.fix}"
    return text


def as_dict(line: Check) -> dict[str, Any]:
    """The JSON form of one line."""
    return {"system": line.system, "check": line.name, "ok": line.ok, "detail": line.detail,
            "fix": line.fix}
