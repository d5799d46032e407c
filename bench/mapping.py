"""Compiled declarative mappings against the same mappings written by hand (issue 17.5).

Both directions of a DigitalChalk → Salesforce sync: the raw record to the canonical dict, and
the validated ``Offering`` to the Salesforce item. Outputs are compared on every record before
anything is timed; each side is timed best-of-``rounds`` over the same records.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

__all__ = ["bench_mapping"]


def _best(fns: tuple[Callable[[Any], Any], ...], data: list[Any], rounds: int,
          ) -> list[float]:
    """Best time of each function; rounds alternate so a busy spell on the machine hits both."""
    best = [float("inf")] * len(fns)
    for _ in range(rounds):
        for index, fn in enumerate(fns):
            started = time.perf_counter()
            for record in data:
                fn(record)
            best[index] = min(best[index], time.perf_counter() - started)
    return best


def bench_mapping(records: int, rounds: int = 5) -> dict[str, Any]:
    """Records per second, compiled and hand-written, per direction and both together."""
    from bench.handwritten import map_digitalchalk, map_salesforce
    from bench.lookups import course_numbers, org_lookups, session_ranges
    from offering_sync.app.compose import _compiled
    from offering_sync.connectors.salesforce import mapping_settings
    from offering_sync.emulators.digitalchalk import Catalog
    from offering_sync.model import validate_offering
    from offering_sync.settings import CoreSettings

    settings = CoreSettings()
    to_canonical, to_target = _compiled(settings, "digitalchalk", "salesforce",
                                        lookups=org_lookups())
    sessions, courses = session_ranges(), course_numbers()
    field = mapping_settings()["salesforce.external_id_field"]

    def by_hand(offering: Any) -> dict[str, Any]:
        return map_salesforce(offering, sessions, courses, field)

    raws = list(Catalog(records, seed=3))
    offerings = []
    for raw in raws:
        canonical = to_canonical(raw)
        assert canonical == map_digitalchalk(raw), raw["id"]
        offering = validate_offering(canonical)
        assert to_target(offering) == by_hand(offering), raw["id"]
        offerings.append(offering)
    out: dict[str, Any] = {"records": records}
    totals = [0.0, 0.0]
    for name, compiled, hand, data in (("digitalchalk_to_canonical", to_canonical,
                                        map_digitalchalk, raws),
                                       ("canonical_to_salesforce", to_target, by_hand,
                                        offerings)):
        declarative, handwritten = _best((compiled, hand), data, rounds)
        totals[0] += declarative
        totals[1] += handwritten
        out[name] = {"declarative_per_s": round(records / declarative),
                     "handwritten_per_s": round(records / handwritten),
                     "ratio": round(declarative / handwritten, 2)}
    out.update({"declarative_per_s": round(records / totals[0]),
                "handwritten_per_s": round(records / totals[1]),
                "ratio": round(totals[0] / totals[1], 2)})
    out["no_inline"] = _without_inlining(settings, raws, offerings, rounds, totals[1])
    return out


def _without_inlining(settings: Any, raws: list[Any], offerings: list[Any], rounds: int,
                      handwritten: float) -> dict[str, Any]:
    """The same mappings compiled with every transform called from the registry (the "before")."""
    from unittest import mock

    from bench.lookups import org_lookups
    from offering_sync.app.compose import _compiled
    from offering_sync.mapping import compiler

    with mock.patch.object(compiler, "inline_kind", lambda *_: None):
        to_canonical, to_target = _compiled(settings, "digitalchalk", "salesforce",
                                            lookups=org_lookups())
    seconds = _best((to_canonical,), raws, rounds)[0] + _best((to_target,), offerings, rounds)[0]
    return {"declarative_per_s": round(len(raws) / seconds),
            "ratio": round(seconds / handwritten, 2)}
