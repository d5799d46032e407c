"""Benchmarks against the I/O floor and a naive baseline: ``python -m bench.run``.

Measures, in one run: the compiled mapping against a hand-written one; a DigitalChalk →
Salesforce sync (emulators in their own processes) against the I/O floor (the same HTTP calls
with precomputed bodies) and against one request per record; a no-op re-sync; peak memory at
several sizes; the flow against the engine called directly; API calls per record written.
Writes ``bench/results/latest.json`` and ``latest.md``; ``--update-readme`` puts the table in
the README. ``--records 2000 --quick`` is the small version CI runs (times are not asserted).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
BATCH = 200
PAGE = 100


# -- emulator processes --------------------------------------------------------------------------

@contextmanager
def emulator(system: str, records: int = 0):
    from offering_sync.emulators.server import free_port

    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "emulators", system, "--port", str(port),
                             "--records", str(records)], cwd=ROOT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(url + "/_emulator/stats", timeout=1)
            break
        except httpx.HTTPError:
            time.sleep(0.1)
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def env_for(dc: str, sf: str, state: str) -> dict[str, str]:
    from offering_sync.emulators.server import connection_env

    return {**connection_env("digitalchalk", dc), **connection_env("salesforce", sf),
            "OFFERING_SYNC_STATE_URL": state, "OFFERING_SYNC_SALESFORCE_BATCH_SIZE": str(BATCH)}


def stats(url: str) -> dict[str, Any]:
    return httpx.get(url + "/_emulator/stats").json()


def reset(sf: str) -> None:
    httpx.post(sf + "/_emulator/reset")


# -- 1. mapping ----------------------------------------------------------------------------------

def bench_mapping(records: int) -> dict[str, Any]:
    from bench.handwritten import map_digitalchalk
    from offering_sync.app.compose import _compiled
    from offering_sync.emulators.digitalchalk import Catalog
    from offering_sync.settings import CoreSettings

    data = list(Catalog(records, seed=3))
    compiled, _ = _compiled(CoreSettings(), "digitalchalk", "salesforce")
    for record in data:
        assert compiled(record) == map_digitalchalk(record), record["id"]

    def best(fn) -> float:
        times = []
        for _ in range(3):
            started = time.perf_counter()
            for record in data:
                fn(record)
            times.append(time.perf_counter() - started)
        return min(times)

    declarative, hand = best(compiled), best(map_digitalchalk)
    return {"records": records, "declarative_per_s": round(records / declarative),
            "handwritten_per_s": round(records / hand), "ratio": round(declarative / hand, 2)}


# -- 2. I/O floor and naive baseline --------------------------------------------------------------

def precomputed_payloads(dc: str, records: int) -> list[dict[str, Any]]:
    """Every page mapped to Salesforce bodies, outside any timed region."""
    from offering_sync.app.compose import _compiled
    from offering_sync.emulators.salesforce import Org
    from offering_sync.mapping import StaticLookups
    from offering_sync.model import validate_offering
    from offering_sync.settings import CoreSettings

    org = Org()  # the emulated org's reference data: the same ids the served emulator holds
    lookups = {"salesforce": StaticLookups({"AcademicSession": list(org.sessions.values()),
                                            "LearningCourse": list(org.courses.values())})}
    to_canonical, to_target = _compiled(CoreSettings(), "digitalchalk", "salesforce",
                                        lookups=lookups)
    headers = {"Authorization": "Bearer dc-demo-token"}
    bodies = []
    with httpx.Client(base_url=dc + "/dc/api/v5/", headers=headers) as client:
        for offset in range(0, records, PAGE):
            for raw in client.get("offerings", params={"limit": PAGE, "offset": offset}
                                  ).json()["results"]:
                offering = validate_offering(to_canonical(raw))
                bodies.append(to_target(offering))
    return bodies


def sf_token(client: httpx.Client) -> str:
    from offering_sync.emulators.salesforce import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET

    return client.post("services/oauth2/token", data={
        "grant_type": "client_credentials", "client_id": DEMO_CLIENT_ID,
        "client_secret": DEMO_CLIENT_SECRET}).json()["access_token"]


PATH = "services/data/v66.0/connect/education/academic-operations/course-offering"


def io_floor(dc: str, sf: str, records: int, bodies: list[dict[str, Any]]) -> float:
    """The same GETs and POSTs as a sync, with nothing computed in between."""
    reset(sf)
    with httpx.Client(base_url=dc + "/dc/api/v5/",
                      headers={"Authorization": "Bearer dc-demo-token"}) as dcc, \
            httpx.Client(base_url=sf + "/") as sfc:
        auth = {"Authorization": f"Bearer {sf_token(sfc)}"}
        started = time.perf_counter()
        for offset in range(0, records, PAGE):
            dcc.get("offerings", params={"limit": PAGE, "offset": offset}).raise_for_status()
        for start in range(0, len(bodies), BATCH):
            sfc.post(PATH, params={"overwrite": "false"}, json=bodies[start:start + BATCH],
                     headers=auth).raise_for_status()
        return time.perf_counter() - started


def naive(sf: str, bodies: list[dict[str, Any]], sample: int) -> float:
    """One POST per record, on a sample; returns seconds per record."""
    reset(sf)
    with httpx.Client(base_url=sf + "/") as sfc:
        auth = {"Authorization": f"Bearer {sf_token(sfc)}"}
        started = time.perf_counter()
        for body in bodies[:sample]:
            sfc.post(PATH, params={"overwrite": "false"}, json=[body],
                     headers=auth).raise_for_status()
        return (time.perf_counter() - started) / sample


# -- syncs in a child process (clean memory, real CLI path) ----------------------------------------

def child_sync(env: dict[str, str], *, flow: bool = False) -> dict[str, Any]:
    code = ("import json,resource,sys,time; from bench.child import run; "
            f"r=run(flow={flow}); "
            "r['peak_rss_mb']=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss/1024; "
            "print(json.dumps(r))")
    done = subprocess.run([sys.executable, "-c", code], env={**os.environ, **env}, cwd=ROOT,
                          capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-3000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.run")
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--memory-sizes", default="10000,100000,1000000")
    parser.add_argument("--quick", action="store_true", help="small CI version")
    parser.add_argument("--update-readme", action="store_true")
    args = parser.parse_args()
    n = args.records
    sizes = [n] if args.quick else [int(s) for s in args.memory_sizes.split(",")]
    result: dict[str, Any] = {"machine": machine(), "records": n}
    print(f"mapping {n} records …", flush=True)
    result["mapping"] = bench_mapping(n)
    with tempfile.TemporaryDirectory() as tmp, emulator("digitalchalk", n) as dc, \
            emulator("salesforce") as sf:
        print("I/O floor …", flush=True)
        bodies = precomputed_payloads(dc, n)
        floor = io_floor(dc, sf, n, bodies)
        per_record = naive(sf, bodies, min(len(bodies), 500 if args.quick else 2000))
        del bodies
        print("engine sync …", flush=True)
        reset(sf)
        env = env_for(dc, sf, f"sqlite:///{tmp}/engine.db")
        full = child_sync(env)
        posts = stats(sf)["posts"]
        print("no-op sync …", flush=True)
        noop = child_sync(env)
        posts_noop = stats(sf)["posts"] - posts
        print("flow sync …", flush=True)
        reset(sf)
        flowed = child_sync(env_for(dc, sf, f"sqlite:///{tmp}/flow.db"), flow=True)
        result["sync"] = {
            "io_floor_s": round(floor, 2), "engine_s": full["seconds"],
            "engine_vs_floor": round(full["seconds"] / floor, 2),
            "naive_s_estimated": round(per_record * n, 1),
            "naive_vs_engine": round(per_record * n / full["seconds"], 1),
            "noop_s": noop["seconds"], "noop_writes": posts_noop,
            "noop_vs_full": round(noop["seconds"] / full["seconds"], 2),
            "flow_s": flowed["seconds"], "flow_overhead": round(
                flowed["seconds"] / full["seconds"] - 1, 3),
            "bulk_calls": posts, "bulk_calls_expected": math.ceil(n / BATCH),
            "created": full["created"],
        }
        memory = {}
        for size in sizes:
            print(f"memory at {size} …", flush=True)
            httpx.post(dc + "/_emulator/generate", json={"count": size, "seed": 1})
            reset(sf)
            run = child_sync(env_for(dc, sf, f"sqlite:///{tmp}/mem{size}.db"))
            memory[str(size)] = {"peak_rss_mb": round(run["peak_rss_mb"], 1),
                                 "seconds": run["seconds"], "created": run["created"]}
        result["memory"] = memory
    write(result, args.update_readme and not args.quick)


def machine() -> dict[str, Any]:
    return {"python": platform.python_version(), "cpus": os.cpu_count(),
            "platform": platform.platform(), "date": time.strftime("%Y-%m-%d")}


def table(r: dict[str, Any]) -> str:
    m, s = r["mapping"], r["sync"]
    mem = r["memory"]
    sizes = sorted(mem, key=int)
    rows = [
        "| measure | result | target |", "|---|---|---|",
        f"| mapping, records/s (declarative / hand-written) | {m['declarative_per_s']:,} / "
        f"{m['handwritten_per_s']:,} = {m['ratio']}× | ≤ 1.3× |",
        f"| sync of {r['records']:,} DigitalChalk → Salesforce | {s['engine_s']} s vs I/O floor "
        f"{s['io_floor_s']} s = {s['engine_vs_floor']}× | ≤ 1.5× |",
        f"| naive (one request per record, estimated from a sample) | {s['naive_s_estimated']} s "
        f"= {s['naive_vs_engine']}× the sync | report |",
        f"| no-op re-sync | {s['noop_s']} s ({s['noop_vs_full']}× the full sync), "
        f"{s['noop_writes']} writes | 0 writes |",
        f"| through the Prefect flow | {s['flow_s']} s ({s['flow_overhead']:+.1%}) | ≤ +10 % |",
        f"| bulk calls for {s['created']:,} new records | {s['bulk_calls']} "
        f"(ceil(n/{BATCH}) = {s['bulk_calls_expected']}) | equal |",
        "| peak RSS of a sync | " + ", ".join(
            f"{int(k):,}: {mem[k]['peak_rss_mb']} MB" for k in sizes) + " | flat (≤ 1.5×) |",
    ]
    mach = r["machine"]
    return "\n".join(rows) + (f"\n\nMeasured {mach['date']} on {mach['cpus']} CPUs, Python "
                              f"{mach['python']}, {mach['platform']}.")


def write(result: dict[str, Any], update_readme: bool) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "latest.json").write_text(json.dumps(result, indent=2) + "\n")
    md = table(result)
    (RESULTS / "latest.md").write_text(md + "\n")
    print(md)
    if update_readme:
        readme = ROOT / "README.md"
        text = readme.read_text()
        start, end = "<!-- bench:start -->", "<!-- bench:end -->"
        head, _, rest = text.partition(start)
        _, _, tail = rest.partition(end)
        readme.write_text(f"{head}{start}\n{md}\n{end}{tail}")


if __name__ == "__main__":
    main()
