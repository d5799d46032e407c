"""Benchmarks of a DigitalChalk → Salesforce sync against its floors: ``python -m bench.run``.

One run measures, with the emulators, the sync and the floors each in a process of its own:

* the compiled mappings against the same mappings written by hand (and without inlining);
* at 0 ms and at ``--latency-ms`` injected in the emulators for every call: the sequential floor
  (the sync's calls one at a time, nothing computed), the concurrent floor (``k`` in flight per
  system, the reads and writes at once), the sync, a no-op re-sync against the read-only floor
  (the same GETs), and the sync through the ``sync-offerings`` flow against the ephemeral server
  and a standing ``prefect server start``;
* CPU per record: the sync process's own CPU (``getrusage``) beside the floor client's;
* what a Prefect task run costs: the same sync with a task around every batch, every 5th, every
  25th, none;
* one request per record (naive), bulk calls per record, peak memory at 10k, 100k and 1M;
* with py-spy installed, a sampled profile of the sync (by thread, by kind of work, by function).

Writes ``bench/results/latest.json`` and ``latest.md`` (``--quick``: ``quick.json``/``quick.md``),
and with ``--update-readme`` the README's table. ``--records 2000 --quick`` is what CI runs.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import procs
from bench.report import write

ROOT = Path(__file__).resolve().parents[1]
BATCH = 200
PAGE = 100
# k in flight per system for the concurrent floor and the sync's concurrency setting.
# Salesforce: no limit on concurrent requests shorter than 20 s; at most 25 long-running (20 s or
# more) in production orgs and sandboxes, 5 in Developer Edition and trial orgs (App Limits
# Cheatsheet, "API Request Limits and Allocations"): 5 holds in every org even if each request
# ran long. DigitalChalk documents no limit at all ([GAP] in seed-apis.md §4.6): 4, the bounded
# concurrency anchors.md suggests by default, is our choice, not the vendor's.
K = {"digitalchalk": 4, "salesforce": 5}
TASK_EVERY = (1, 5, 25, 0)


class Bench:
    """One benchmark run: the emulators, a scratch folder and the figures gathered so far."""

    def __init__(self, dc: procs.Emulator, sf: procs.Emulator, tmp: Path, records: int) -> None:
        self.dc, self.sf, self.tmp, self.n = dc, sf, tmp, records
        self.loads: list[list[float]] = []
        self.counter = 0

    def note_load(self) -> None:
        self.loads.append(procs.load())

    def latency(self, ms: float) -> None:
        self.dc.latency(ms)
        self.sf.latency(ms)

    def env(self, name: str, **extra: str) -> dict[str, str]:
        self.counter += 1
        state = f"sqlite:///{self.tmp}/{name}-{self.counter}.db"
        return {**procs.env_for(self.dc, self.sf, state, BATCH, K), **extra}

    def floor(self, mode: str, records: int | None = None, **extra: Any) -> dict[str, Any]:
        self.sf.reset()
        self.note_load()
        spec = {"mode": mode, "dc": self.dc.url, "sf": self.sf.url, "records": records or self.n,
                "k_dc": K["digitalchalk"], "k_sf": K["salesforce"], "batch": BATCH,
                "page": PAGE, **extra}
        return self._with_emulator_cpu(lambda: procs.child("bench.floors", spec, {}))

    def sync(self, env: dict[str, str], mode: str = "engine", *, reset: bool = True,
             server: procs.PrefectServer | None = None, **extra: Any) -> dict[str, Any]:
        """One sync in a child; ``reset`` empties the org first (a first sync, all creates)."""
        if reset:
            self.sf.reset()
        posts = self.sf.stats().get("posts", 0)
        self.note_load()
        if server is not None:
            env = {**env, "PREFECT_API_URL": server.api_url}
        server_cpu = server.cpu() if server else 0.0
        out = self._with_emulator_cpu(
            lambda: procs.child("bench.child", {"mode": mode, **extra}, env))
        out["posts"] = self.sf.stats().get("posts", 0) - posts
        if server is not None:
            out["server_cpu_s"] = round(server.cpu() - server_cpu, 2)
        return out

    def _with_emulator_cpu(self, step: Any) -> dict[str, Any]:
        before = self.dc.cpu(), self.sf.cpu()
        out = dict(step())
        out["emulator_cpu_s"] = {"digitalchalk": round(self.dc.cpu() - before[0], 2),
                                 "salesforce": round(self.sf.cpu() - before[1], 2)}
        return out


def _ratio(a: float, b: float) -> float:
    return round(a / b, 2) if b else float("nan")


def _keep(run: dict[str, Any]) -> dict[str, Any]:
    keys = ("seconds", "cpu_s", "peak_rss_mb", "created", "updated", "unchanged", "failed",
            "extracted", "posts", "status", "emulator_cpu_s", "server_cpu_s", "task_runs")
    return {k: run[k] for k in keys if k in run}


def latency_section(b: Bench, ms: float, records: int, *, flows: bool,
                    server: procs.PrefectServer | None) -> dict[str, Any]:
    """Floors, sync, no-op re-sync and (with ``flows``) the flow, all at ``ms`` per call."""
    b.latency(ms)
    print(f"[{ms:g} ms] floors for {records:,} records …", flush=True)
    seq = b.floor("sequential", records)
    conc = b.floor("concurrent", records)
    print(f"[{ms:g} ms] sync …", flush=True)
    env = b.env(f"sync{ms:g}")
    sync = b.sync(env)
    print(f"[{ms:g} ms] no-op re-sync …", flush=True)
    noop = b.sync(env, reset=False)
    out: dict[str, Any] = {
        "latency_ms": ms, "records": records, "k": dict(K),
        "floor_sequential": seq, "floor_concurrent": conc,
        "sync": _keep(sync), "noop": _keep(noop),
        "sync_vs_concurrent_floor": _ratio(sync["seconds"], conc["seconds"]),
        "sequential_floor_vs_sync": _ratio(seq["seconds"], sync["seconds"]),
        "sync_vs_sequential_floor": _ratio(sync["seconds"], seq["seconds"]),
        "noop_vs_read_floor": _ratio(noop["seconds"], seq["read_s"]),
        "noop_vs_concurrent_read_floor": _ratio(noop["seconds"], conc["read_s"]),
        "noop_writes": noop["posts"],
        "bulk_calls": sync["posts"], "bulk_calls_expected": math.ceil(records / BATCH),
    }
    if flows:
        print(f"[{ms:g} ms] the flow, ephemeral server …", flush=True)
        flow = b.sync(b.env(f"flow{ms:g}"), "flow")
        out["flow_ephemeral"] = _keep(flow)
        out["flow_ephemeral_overhead"] = round(flow["seconds"] / sync["seconds"] - 1, 3)
        if server is not None:
            print(f"[{ms:g} ms] the flow, standing server …", flush=True)
            standing = b.sync(b.env(f"flows{ms:g}"), "flow", server=server)
            out["flow_standing"] = _keep(standing)
            out["flow_standing_overhead"] = round(standing["seconds"] / sync["seconds"] - 1, 3)
    return out


def task_sizing(b: Bench, records: int, server: procs.PrefectServer | None) -> dict[str, Any]:
    """The same sync with a Prefect task around every batch, every 5th, every 25th, none."""
    b.latency(0)
    b.dc.generate(records)
    rows = []
    engine = b.sync(b.env("tasks-engine"))
    for every in TASK_EVERY:
        print(f"task sizing: a task per {every or 'no'} batch(es) …", flush=True)
        run = b.sync(b.env(f"tasks{every}"), "tasks", every=every, server=server)
        rows.append({"task_per_batches": every, **_keep(run)})
    base = next(r for r in rows if r["task_per_batches"] == 0)
    for row in rows:
        extra = row["seconds"] - base["seconds"]
        row["seconds_over_no_tasks"] = round(extra, 2)
        row["ms_per_task_run"] = round(1000 * extra / row["task_runs"], 1) \
            if row.get("task_runs") else None
    return {"records": records, "batches": math.ceil(records / BATCH), "engine": _keep(engine),
            "server": "standing" if server else "ephemeral", "runs": rows,
            "flow_without_tasks_overhead": round(base["seconds"] / engine["seconds"] - 1, 3)}


def profile(b: Bench, records: int) -> dict[str, Any] | None:
    """A sampled profile (py-spy, GIL-holding samples: our Python CPU) of one sync at 0 ms."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(spy).exists():
        return None
    from bench.profiling import pyspy_summary

    b.latency(0)
    b.dc.generate(records)
    b.sf.reset()
    raw = b.tmp / "profile.raw"
    env = {**os.environ, **b.env("profile")}
    done = subprocess.run([spy, "record", "--rate", "200", "--threads", "--gil", "-f", "raw",
                           "-o", str(raw), "--", sys.executable, "-m", "bench.child",
                           json.dumps({"mode": "engine"})], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=3600)
    if done.returncode != 0 or not raw.exists():
        return {"error": done.stderr[-1000:]}
    run = json.loads([line for line in done.stdout.splitlines() if line.startswith("{")][-1])
    return {"records": records, "sampler": "py-spy --gil --rate 200", "seconds": run["seconds"],
            "cpu_s": run["cpu_s"], **pyspy_summary(raw, top=20)}


def machine() -> dict[str, Any]:
    """Where and when: the figures mean little without it."""
    return {"python": platform.python_version(), "cpus": os.cpu_count(),
            "platform": platform.platform(), "date": time.strftime("%Y-%m-%d %H:%M %Z")}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.run")
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--latency-ms", type=float, default=100.0,
                        help="latency injected in the emulators for every call (0: skip)")
    parser.add_argument("--latency-records", type=int, default=None,
                        help="records for the latency section (default: --records)")
    parser.add_argument("--memory-sizes", default="10000,100000,1000000")
    parser.add_argument("--task-records", type=int, default=20_000,
                        help="records for the task-sizing runs")
    parser.add_argument("--quick", action="store_true", help="small CI version")
    parser.add_argument("--no-server", action="store_true",
                        help="skip the standing Prefect server")
    parser.add_argument("--update-readme", action="store_true")
    args = parser.parse_args()
    n, quick = args.records, args.quick
    n_lat = args.latency_records or (min(n, 1000) if quick else n)
    sizes = [] if quick else [int(s) for s in args.memory_sizes.split(",")]
    started = time.monotonic()
    result: dict[str, Any] = {"machine": machine(), "records": n, "quick": quick,
                              "load_at_start": procs.load()}
    from bench.mapping import bench_mapping

    print(f"mapping {min(n, 20_000):,} records …", flush=True)
    result["mapping"] = bench_mapping(min(n, 20_000))
    with tempfile.TemporaryDirectory() as scratch, procs.emulator("digitalchalk", n) as dc, \
            procs.emulator("salesforce") as sf:
        b = Bench(dc, sf, Path(scratch), n)
        server_cm = None if (quick or args.no_server) else procs.prefect_server()
        server = server_cm.__enter__() if server_cm else None
        try:
            result["zero"] = latency_section(b, 0, n, flows=True, server=server)
            zero = result["zero"]
            print("naive, one request per record …", flush=True)
            naive = b.floor("naive", n, sample=200 if quick else 2000)
            zero["naive"] = naive
            zero["naive_s_estimated"] = round(naive["per_record_s"] * n, 1)
            zero["naive_vs_sync"] = _ratio(naive["per_record_s"] * n, zero["sync"]["seconds"])
            zero["cpu_per_record_us"] = {
                "sync": round(1e6 * zero["sync"]["cpu_s"] / n, 1),
                "floor_client": round(1e6 * zero["floor_sequential"]["cpu_s"] / n, 1)}
            zero["cpu_vs_floor_client"] = _ratio(zero["sync"]["cpu_s"],
                                                 zero["floor_sequential"]["cpu_s"])
            if args.latency_ms:
                if n_lat != n:
                    dc.generate(n_lat)
                result["latency"] = latency_section(b, args.latency_ms, n_lat,
                                                    flows=not quick, server=server)
                b.latency(0)
            if not quick:
                result["tasks"] = task_sizing(b, min(args.task_records, n), server)
                result["profile"] = profile(b, min(20_000, n))
            memory: dict[str, Any] = {str(n): _keep(zero["sync"])}
            for size in sizes:
                if str(size) in memory:
                    continue
                print(f"memory at {size:,} …", flush=True)
                dc.generate(size)
                memory[str(size)] = _keep(b.sync(b.env(f"mem{size}")))
            result["memory"] = memory
        finally:
            if server_cm is not None:
                server_cm.__exit__(None, None, None)
    b.note_load()
    result["load_during"] = {"samples": b.loads,
                             "mean_1min": round(sum(x[0] for x in b.loads) / len(b.loads), 2)}
    result["bench_seconds"] = round(time.monotonic() - started, 1)
    write(result, quick=quick, update_readme=args.update_readme and not quick)


if __name__ == "__main__":
    main()
