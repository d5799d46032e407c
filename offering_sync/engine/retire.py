"""Offerings gone from the source: detect on every complete read, report, retire by policy.

A run that read the source's whole listing knows which linked records it did not see. They are
always counted (``missing_in_source``); they are deactivated or deleted in the target only when
the pipeline's policy says so, and never when the share missing passes
``max_delete_ratio`` (an outage answering an empty listing looks exactly like a mass delete),
unless the operator allows it for one run.
"""

from __future__ import annotations

from offering_sync.engine.state import RunState
from offering_sync.errors import ConfigError, SyncError
from offering_sync.records import Retirer, WriteRequest
from offering_sync.state import Link, LogEntry

__all__ = ["MassDeleteRefused", "retire_missing"]

_PAGE = 500


class MassDeleteRefused(SyncError):
    """Too many linked records are missing from the source to act on them safely."""


def retire_missing(run: RunState) -> None:
    """Count the linked records this complete read did not see; act on them by policy."""
    source, target = run.p.source.system, run.p.target.system
    missing = _count_unseen(run)
    run.add("missing_in_source", missing)
    if not missing:
        return
    policy = run.opt.on_delete
    run.log.warning("%d linked offerings are no longer in %s (policy: %s)", missing, source,
                    policy)
    if policy == "report" or run.opt.dry_run:
        return
    active = run.store.count_links(source, target)
    share = missing / max(active, 1)
    if share > run.opt.max_delete_ratio and not run.opt.allow_mass_delete:
        raise MassDeleteRefused(
            f"{missing} of {active} linked offerings ({share:.0%}) are missing from {source}, "
            f"more than OFFERING_SYNC_MAX_DELETE_RATIO ({run.opt.max_delete_ratio:.0%}); "
            "nothing was deactivated or deleted. If the source really lost them, run once "
            "with --allow-mass-delete")
    if not isinstance(run.p.target, Retirer) or policy not in run.p.target.retire_modes:
        raise ConfigError(f"{target} cannot {policy} offerings; use the report policy")
    after = ""
    while True:
        links = run.store.unseen_links(source, target, run.run_id, after=after,
                                       limit=min(_PAGE, run.p.target.max_batch))
        if not links:
            return
        _retire(run, links, policy)
        after = links[-1].source_id


def _count_unseen(run: RunState) -> int:
    total, after = 0, ""
    while True:
        page = run.store.unseen_links(run.p.source.system, run.p.target.system, run.run_id,
                                      after=after, limit=5000)
        total += len(page)
        if len(page) < 5000:
            return total
        after = page[-1].source_id


def _retire(run: RunState, links: list[Link], how: str) -> None:
    target = run.p.target
    assert isinstance(target, Retirer)
    requests = [WriteRequest(link.external_id, {}, link.target_id, link.content_hash,
                             link.target_version) for link in links]
    results = target.retire(requests, how=how, policy=run.policy)
    state = "deactivated" if how == "deactivate" else "deleted"
    done: list[Link] = []
    log: list[LogEntry] = []
    failures = []
    for link, result in zip(links, results, strict=True):
        if result.ok:
            done.append(Link(link.source_id, link.external_id, link.target_id,
                             None if state == "deleted" else link.content_hash,
                             result.target_version, link.source_version, state))
            log.append(LogEntry(link.source_id, link.external_id, link.target_id, how, "ok"))
        else:
            failures.append(run.failure("retire", link.source_id, link.external_id, None,
                                        f"record {link.source_id}: could not {how}: "
                                        f"{result.message}", None, previous=None))
            log.append(LogEntry(link.source_id, link.external_id, link.target_id, how,
                                "failed", error=result.message))
    run.add(state, len(done))
    run.store.record_batch(run_id=run.run_id, pipeline=run.name, source=run.p.source.system,
                           target=run.p.target.system, loaded=done, failed=failures,
                           counts=run.totals(), log=log)
