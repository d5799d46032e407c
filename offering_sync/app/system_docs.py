"""The README's systems and field tables, generated from the installed systems and mappings.

Part of the composition root: it reads each ``SystemSpec`` for directions, API calls (with
whether the vendor documents each one) and settings, and the mapping files for what each field
maps to, so the README cannot drift; a test compares the README with this output.
"""

from __future__ import annotations

import re
from pathlib import Path

from offering_sync.app.compose import mapping_file
from offering_sync.app.registry import all_systems
from offering_sync.mapping import load_mapping
from offering_sync.mapping.spec import FieldRule
from offering_sync.plugin import ApiCall, SystemSpec
from offering_sync.settings import CoreSettings

__all__ = ["render", "update_readme"]

START, END = "<!-- generated: systems -->", "<!-- end generated: systems -->"


def _source_of(rule: FieldRule, *, into_target: bool = False) -> str:
    if rule.each is not None:
        inner = ", ".join(f"{k} ← {_source_of(v)}" for k, v in rule.each.items())
        text = f"each of `{rule.from_}` ({inner})"
    elif rule.from_ is not None:
        text = f"`{rule.from_}`"
    elif rule.template is not None:
        text = f"`\"{rule.template}\"`"
    elif rule.coalesce is not None:
        text = " or ".join(f"`{p}`" for p in rule.coalesce)
    elif rule.setting is not None:
        text = f"setting `{rule.setting}`"
    elif rule.first_of is not None:
        text = "first of: " + "; ".join(_source_of(choice) for choice in rule.first_of)
    else:
        text = f"constant `{rule.const!r}`"
    names = [t if isinstance(t, str) else next(iter(t)) for t in rule.transforms]
    if names:
        text += " → " + ", ".join(names)
    if rule.has_default and into_target:  # the engine names defaulted fields (with_defaults)
        text += f" (default `{rule.default!r}` on create only; an update keeps the target's value)"
    elif rule.has_default:
        text += f" (default `{rule.default!r}`)"
    if rule.on_update != "overwrite":
        text += f" · on update: **{rule.on_update}**"
    return text.replace("|", "\\|")


def _settings(info: SystemSpec) -> str:
    fields = getattr(info.settings_class, "model_fields", {})
    return ", ".join(f"`{info.env_prefix}{name.upper()}`" for name in fields)


def _call(call: ApiCall) -> str:
    text = f"`{call.describe()}`".replace("|", "\\|")
    return text if call.basis == "documented" else text + " *(our reading)*"


def _systems_table(settings: CoreSettings) -> list[str]:
    lines = ["| system | as source | as target | API calls | settings |", "|---|---|---|---|---|"]
    for slug, info in all_systems().items():
        reads = info.make_source is not None and \
            mapping_file(settings, slug, "canonical") is not None
        writes = info.make_target is not None and \
            mapping_file(settings, "canonical", slug) is not None
        target = "yes" if writes else f"**no**: {info.note}"
        calls = "<br>".join(_call(c) for c in info.api_calls)
        lines.append(f"| {info.title} | {'yes' if reads else 'no'} | {target} | {calls} | "
                     f"{_settings(info)} |")
    return lines


def _field_tables(settings: CoreSettings) -> list[str]:
    lines: list[str] = []
    for slug in all_systems():
        for side_from, side_to in ((slug, "canonical"), ("canonical", slug)):
            chosen = mapping_file(settings, side_from, side_to)
            if chosen is None:
                continue
            spec = load_mapping(chosen.path).spec
            lines += ["", f"**{side_from} → {side_to}** (`mappings/{chosen.path.name}`)", "",
                      f"| {side_to} field | from {side_from} |", "|---|---|"]
            lines += [f"| `{name}` | {_source_of(rule, into_target=side_from == 'canonical')} |"
                      for name, rule in spec.fields.items()]
            if side_from == "canonical":
                lines += ["", _retire_line(slug)]
    return lines


def _retire_line(slug: str) -> str:
    """What ``--on-delete deactivate`` and ``delete`` do in this target."""
    info = all_systems()[slug]
    said = [f"`{how}`: {info.retire[how]}" if how in info.retire else f"`{how}`: refused "
            "(nothing the vendor documents does it)" for how in ("deactivate", "delete")]
    return f"Offerings gone from the source (`--on-delete`): {'; '.join(said)}."


def render(settings: CoreSettings | None = None) -> str:
    """The generated README section, markers included."""
    settings = settings or CoreSettings()
    body = _systems_table(settings) + ["", "### What each field maps to"] + \
        _field_tables(settings)
    return "\n".join([START, *body, END])


def update_readme(path: Path, settings: CoreSettings | None = None) -> bool:
    """Rewrite the generated section of ``path``; True when it changed."""
    text = path.read_text(encoding="utf-8")
    pattern = re.compile(re.escape(START) + ".*?" + re.escape(END), re.DOTALL)
    if not pattern.search(text):
        raise ValueError(f"{path} has no {START} … {END} section")
    new = pattern.sub(lambda _m: render(settings), text)
    if new != text:
        path.write_text(new, encoding="utf-8")
    return new != text
