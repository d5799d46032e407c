"""``offering-sync ops``: what a Prefect server needs beyond ``prefect deploy`` to run syncs.

``setup`` creates (or updates, by name) two automations on the server ``PREFECT_API_URL``
points at:

- *crash detection*: a run of our flows that sent a heartbeat and then neither sent another
  nor ended within ``--crash-after`` seconds is marked Crashed (its host was lost or its process
  killed). This is Prefect's documented recipe for "zombie" runs (docs.prefect.io, "Detect
  zombie flows"), limited to our flows. It needs heartbeats from the flow-run processes:
  ``PREFECT_FLOWS_HEARTBEAT_FREQUENCY`` (30 s minimum) in the work pool's ``job_variables.env``,
  as prefect.yaml sets. Marking a run Crashed also frees its deployment concurrency slot, so
  runs queued behind it start.
- *alerting*: a sync run that ends Failed, Crashed, TimedOut or "Completed with failures"
  sends a notification through a Prefect notification block: a JSON webhook created from
  ``--alert-webhook URL``, or any block you already have (``--alert-block slack-webhook/ops``).

``env`` prints (or writes into the README) the settings each system reads, generated from the
installed systems, so the table cannot drift from the code.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, cast

import typer
from rich.console import Console

__all__ = ["ALERT_STATES", "FLOWS", "env_table", "ops_app", "setup", "update_readme"]

ops_app = typer.Typer(no_args_is_help=True,
                      help="Set up a Prefect server for offering-sync: crash detection, alerts.")
out = Console(soft_wrap=True)

CRASH_AUTOMATION = "offering-sync: mark runs Crashed after missed heartbeats"
ALERT_AUTOMATION = "offering-sync: alert on failed or partially failed syncs"
ALERT_BLOCK = "offering-sync-alerts"
# Our flows, by name. A new flow that should be watched is added here.
FLOWS = ("sync-offerings", "reconcile-offerings", "retry-dead-letters")
SYNC_FLOWS = ("sync-offerings",)
ALERT_STATES = ("Failed", "Crashed", "TimedOut", "Completed with failures")
TERMINAL_STATES = ("Completed", "Completed with failures", "Completed with differences",
                   "Failed", "Cancelled", "Crashed", "TimedOut")
ALERT_SUBJECT = ("offering-sync: {{ event.resource['prefect.resource.name'] }} ended "
                 "{{ event.resource['prefect.state-name'] }}")
ALERT_BODY = ("Flow run {{ event.resource['prefect.resource.name'] }} ended in state "
              "{{ event.resource['prefect.state-name'] }}: "
              "{{ event.resource['prefect.state-message'] }}\n"
              "Parameters: {{ flow_run.parameters }}\n"
              "Dead letters: offering-sync dead-letters list\n"
              "Flow run id: {{ flow_run.id }}")
START, END = "<!-- generated: worker-env -->", "<!-- end generated: worker-env -->"


def _flows_related() -> dict[str, Any]:
    return {"prefect.resource.role": "flow", "prefect.resource.name": list(FLOWS)}


def crash_automation(crash_after: float) -> Any:
    """The zombie-run automation: after a heartbeat, another one or an end within the window."""
    from prefect.automations import Automation
    from prefect.client.schemas.objects import StateType
    from prefect.events.actions import ChangeFlowRunState
    from prefect.events.schemas.automations import EventTrigger, Posture
    from prefect.events.schemas.events import ResourceSpecification

    return Automation(
        name=CRASH_AUTOMATION,
        description=f"A run of {', '.join(FLOWS)} that misses heartbeats for {crash_after:.0f} "
                    "s lost its host or process: mark it Crashed (frees its concurrency slots).",
        trigger=EventTrigger(
            after={"prefect.flow-run.heartbeat"},
            expect={"prefect.flow-run.heartbeat",
                    *(f"prefect.flow-run.{state}" for state in TERMINAL_STATES)},
            match=ResourceSpecification({"prefect.resource.id": ["prefect.flow-run.*"]}),
            match_related=ResourceSpecification(_flows_related()),
            for_each={"prefect.resource.id"},
            posture=Posture.Proactive,
            threshold=1,
            within=timedelta(seconds=crash_after),
        ),
        actions=[ChangeFlowRunState(
            state=StateType.CRASHED,
            message=f"no heartbeat for {crash_after:.0f} s: the flow-run process or its host "
                    "was lost (marked by offering-sync's crash-detection automation)")],
    )


def alert_automation(block_document_id: Any) -> Any:
    """Notify through a block when a sync run fails or completes with failed records."""
    from prefect.automations import Automation
    from prefect.events.actions import SendNotification
    from prefect.events.schemas.automations import EventTrigger, Posture
    from prefect.events.schemas.events import ResourceSpecification

    return Automation(
        name=ALERT_AUTOMATION,
        description="A sync run ended " + ", ".join(ALERT_STATES) + ": notify.",
        trigger=EventTrigger(
            expect={f"prefect.flow-run.{state}" for state in ALERT_STATES},
            match=ResourceSpecification({"prefect.resource.id": ["prefect.flow-run.*"]}),
            match_related=ResourceSpecification({"prefect.resource.role": "flow",
                                                 "prefect.resource.name": list(SYNC_FLOWS)}),
            posture=Posture.Reactive,
            threshold=1,
            within=timedelta(0),
        ),
        actions=[SendNotification(block_document_id=block_document_id, subject=ALERT_SUBJECT,
                                  body=ALERT_BODY)],
    )


def _upsert(automation: Any) -> str:
    """Create the automation, or replace the one of the same name; returns what was done."""
    from prefect import get_client
    from prefect.events.schemas.automations import AutomationCore

    with get_client(sync_client=True) as client:
        found = client.read_automations_by_name(automation.name)
        if not found:
            client.create_automation(AutomationCore(**automation.model_dump(exclude={"id"})))
            return "created"
        client.update_automation(found[0].id, AutomationCore(
            **automation.model_dump(exclude={"id", "owner_resource"})))
        for extra in found[1:]:
            client.delete_automation(extra.id)
        return "updated"


def _alert_block(webhook: str | None, block: str | None) -> Any:
    """The notification block's document id: a JSON webhook we save, or a block you named."""
    from prefect.blocks.core import Block

    if block:
        return cast(Block, Block.load(block))._block_document_id
    from prefect.blocks.notifications import CustomWebhookNotificationBlock

    hook = CustomWebhookNotificationBlock(
        name=ALERT_BLOCK, url=str(webhook),
        json_data={"subject": "{{subject}}", "body": "{{body}}", "source": "offering-sync"})
    return hook.save(ALERT_BLOCK, overwrite=True)


def setup(crash_after: float = 90, alert_webhook: str | None = None,
          alert_block: str | None = None) -> list[str]:
    """Create or update the automations; returns one line per thing done."""
    done = [f"{_upsert(crash_automation(crash_after))}: {CRASH_AUTOMATION} "
            f"(after {crash_after:.0f} s without a heartbeat)"]
    if alert_webhook or alert_block:
        block_id = _alert_block(alert_webhook, alert_block)
        where = alert_block or f"webhook block {ALERT_BLOCK} → {alert_webhook}"
        done.append(f"{_upsert(alert_automation(block_id))}: {ALERT_AUTOMATION} (to {where})")
    else:
        done.append("alerts not set up: pass --alert-webhook URL or --alert-block TYPE/NAME")
    return done


@ops_app.command("setup")
def setup_command(
    crash_after: Annotated[float, typer.Option(
        min=31, help="Seconds without a heartbeat before a run is marked Crashed (heartbeats "
        "come every PREFECT_FLOWS_HEARTBEAT_FREQUENCY s, 30 at least).")] = 90,
    alert_webhook: Annotated[str | None, typer.Option(
        help="POST a JSON alert {subject, body, source} to this URL.")] = None,
    alert_block: Annotated[str | None, typer.Option(
        help="Alert through an existing notification block, e.g. slack-webhook/ops.")] = None,
) -> None:
    """Create or update the crash-detection and alert automations (safe to run again)."""
    for line in setup(crash_after, alert_webhook, alert_block):
        out.print(line, markup=False, highlight=False)


def _cell(text: str) -> str:
    """Table-safe: no pipes, and ``<system>`` shown, not taken for an HTML tag."""
    return text.replace("|", "/").replace("<", "&lt;").replace(">", "&gt;")


def _default(value: Any) -> str:
    if value is None:
        return ""
    text = str(value)
    return f"`{text}`" if text else "`\"\"`"


def env_table() -> str:
    """Markdown: every setting a worker may need, per system, with defaults and credentials."""
    from offering_sync.app.flow_settings import FlowSettings
    from offering_sync.app.registry import all_systems
    from offering_sync.settings import CoreSettings

    lines = ["| for | variable | default | what |", "|---|---|---|---|"]
    for owner, cls in (("every run", CoreSettings), ("every run (Prefect layer)", FlowSettings)):
        for name, info in cls.model_fields.items():
            lines.append(f"| {owner} | `OFFERING_SYNC_{name.upper()}` | "
                         f"{_default(info.default)} | {_cell(info.description or '')} |")
    for slug, spec in all_systems().items():
        for name, info in spec.settings_class.model_fields.items():
            what = info.description or ""
            if name in spec.secrets:
                what = (f"credential: or a Prefect Secret block `{slug}-{name.replace('_', '-')}`"
                        + (f"; {what}" if what else ""))
            lines.append(f"| {spec.title} | `{spec.env_prefix}{name.upper()}` | "
                         f"{_default(info.default)} | {_cell(what)} |")
    return "\n".join([START, *lines, END])


def update_readme(path: Path) -> bool:
    """Rewrite the generated worker-environment table of ``path``; True when it changed."""
    text = path.read_text(encoding="utf-8")
    pattern = re.compile(re.escape(START) + ".*?" + re.escape(END), re.DOTALL)
    if not pattern.search(text):
        raise ValueError(f"{path} has no {START} … {END} section")
    new = pattern.sub(lambda _m: env_table(), text)
    if new != text:
        path.write_text(new, encoding="utf-8")
    return new != text


@ops_app.command("env")
def env_command(write: Annotated[bool, typer.Option(
        help="Update the table in README.md in place.")] = False) -> None:
    """The settings workers read, per system (credentials may come from Secret blocks)."""
    if write:
        changed = update_readme(Path("README.md"))
        out.print("README.md updated" if changed else "README.md already up to date")
    else:
        out.print(env_table(), markup=False, highlight=False)
