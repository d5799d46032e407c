"""The floors a sync is measured against, in a process of their own: ``python -m bench.floors``.

A floor makes the sync's HTTP calls with nothing computed in between: the same GETs of
DigitalChalk pages (each answer decoded, as any client must) and the same bulk POSTs to
Salesforce with bodies mapped beforehand, outside the timed region. ``sequential`` sends them
one at a time; ``concurrent`` keeps ``k_dc`` GETs and ``k_sf`` POSTs in flight, the reads and
the writes at the same time (a sync may overlap them too). Each reports the reads and the writes
apart (the reads alone are the read-only floor a no-op re-sync is held to) and its own CPU time
from ``getrusage``, which is "the floor client's CPU" the sync's CPU per record is compared with.
``naive`` posts one record per request on a sample: the cost of not batching.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

__all__ = ["PATH", "bodies_for"]

PATH = "services/data/v66.0/connect/education/academic-operations/course-offering"
DC_TOKEN = {"Authorization": "Bearer dc-demo-token"}


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def bodies_for(records: int, seed: int) -> list[dict[str, Any]]:
    """Salesforce bodies for the emulator's generated catalog, mapped the way a sync maps them."""
    from bench.lookups import org_lookups
    from offering_sync.app.compose import _compiled
    from offering_sync.emulators.digitalchalk import Catalog
    from offering_sync.model import validate_offering
    from offering_sync.settings import CoreSettings

    to_canonical, to_target = _compiled(CoreSettings(), "digitalchalk", "salesforce",
                                        lookups=org_lookups())
    return [to_target(validate_offering(to_canonical(raw))) for raw in Catalog(records, seed)]


def _token(client: httpx.Client) -> str:
    from offering_sync.emulators.salesforce import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET

    answer = client.post("services/oauth2/token", data={
        "grant_type": "client_credentials", "client_id": DEMO_CLIENT_ID,
        "client_secret": DEMO_CLIENT_SECRET})
    answer.raise_for_status()
    return str(answer.json()["access_token"])


def _timed(calls: list[Callable[[], Any]], in_flight: int) -> float:
    started = time.perf_counter()
    if in_flight <= 1:
        for call in calls:
            call()
    else:
        with ThreadPoolExecutor(in_flight) as pool:
            for future in [pool.submit(call) for call in calls]:
                future.result()
    return time.perf_counter() - started


def floors(spec: dict[str, Any]) -> dict[str, Any]:
    """Run one floor described by ``spec``; seconds for reads, writes and all, and CPU."""
    n, page, batch = spec["records"], spec.get("page", 100), spec.get("batch", 200)
    mode = spec["mode"]
    bodies = bodies_for(n, spec.get("seed", 1))
    k_dc, k_sf = (spec["k_dc"], spec["k_sf"]) if mode == "concurrent" else (1, 1)
    limits = httpx.Limits(max_connections=max(k_dc, k_sf, 1))
    with httpx.Client(base_url=spec["dc"] + "/dc/api/v5/", headers=DC_TOKEN,
                      limits=limits, timeout=120) as dcc, \
            httpx.Client(base_url=spec["sf"] + "/", limits=limits, timeout=120) as sfc:
        auth = {"Authorization": f"Bearer {_token(sfc)}"}

        def get(offset: int) -> Callable[[], Any]:
            def call() -> Any:
                answer = dcc.get("offerings", params={"limit": page, "offset": offset})
                answer.raise_for_status()
                return json.loads(answer.content)
            return call

        def post(items: list[dict[str, Any]]) -> Callable[[], Any]:
            def call() -> Any:
                answer = sfc.post(PATH, params={"overwrite": "false"}, json=items, headers=auth)
                answer.raise_for_status()
                return json.loads(answer.content)
            return call

        reads = [get(offset) for offset in range(0, n, page)]
        if mode == "naive":
            sample = bodies[:spec.get("sample", 500)]
            cpu = _cpu()
            seconds = _timed([post([body]) for body in sample], 1)
            return {"mode": mode, "sample": len(sample), "seconds": round(seconds, 3),
                    "per_record_s": seconds / max(len(sample), 1),
                    "cpu_s": round(_cpu() - cpu, 3)}
        writes = [post(bodies[i:i + batch]) for i in range(0, len(bodies), batch)]
        cpu = _cpu()
        if mode == "sequential":
            read_s = _timed(reads, 1)
            write_s = _timed(writes, 1)
            total = read_s + write_s
        else:
            with ThreadPoolExecutor(2) as both:
                started = time.perf_counter()
                read_job = both.submit(_timed, reads, k_dc)
                write_job = both.submit(_timed, writes, k_sf)
                read_s, write_s = read_job.result(), write_job.result()
                total = time.perf_counter() - started
        return {"mode": mode, "k_dc": k_dc, "k_sf": k_sf, "gets": len(reads),
                "posts": len(writes), "read_s": round(read_s, 3), "write_s": round(write_s, 3),
                "seconds": round(total, 3), "cpu_s": round(_cpu() - cpu, 3)}


if __name__ == "__main__":
    print(json.dumps(floors(json.loads(sys.argv[1]))))
