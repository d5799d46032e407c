"""What the per-record sync log costs (issue 16): ``python -m bench.synclog --records 100000``.

The same DigitalChalk → Salesforce first sync runs with and without the sync-log rows, in
alternating pairs (on/off, off/on, …) so that a busy machine and first-run effects fall on
both, each in a process of its own against emulators in processes of their own. Reported: the
median time of each, their ratio (target ≤ 1.10), the same for the sync process's own CPU time
(steadier on a shared machine), and the log table's size per 100k records on SQLite
(``dbstat``) and, when ``--postgres URL`` is given, on PostgreSQL (``pg_total_relation_size``).
Results go to ``bench/results/synclog.json``.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.procs import child, emulator, env_for, load

RESULTS = Path(__file__).parent / "results" / "synclog.json"


def _sqlite_bytes(path: Path) -> dict[str, int]:
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT count(*) FROM sync_log").fetchone()[0]
        size = conn.execute("SELECT coalesce(sum(pgsize), 0) FROM dbstat "
                            "WHERE name = 'sync_log' OR name LIKE 'ix_sync_log%' "
                            "OR name LIKE 'sqlite_autoindex_sync_log%'").fetchone()[0]
    return {"rows": int(rows), "bytes": int(size)}


def _engine(url: str) -> Any:
    from sqlalchemy import create_engine

    return create_engine("postgresql+psycopg://" + url.split("://", 1)[1])


def _postgres_bytes(url: str) -> dict[str, int]:
    from sqlalchemy import text

    engine = _engine(url)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT count(*) FROM sync_log")).scalar_one()
        size = conn.execute(text("SELECT pg_total_relation_size('sync_log')")).scalar_one()
    engine.dispose()
    return {"rows": int(rows), "bytes": int(size)}


def _reset_postgres(url: str) -> None:
    from sqlalchemy import text

    engine = _engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    engine.dispose()


def measure(records: int, pairs: int, batch: int, postgres: str | None,
            postgres_records: int | None = None) -> dict[str, Any]:
    """Alternate runs with and without the log; return the medians, ratio and table sizes."""
    times: dict[bool, list[float]] = {True: [], False: []}
    cpu: dict[bool, list[float]] = {True: [], False: []}
    sizes: dict[str, Any] = {}
    with emulator("digitalchalk", records) as dc, emulator("salesforce") as sf, \
            tempfile.TemporaryDirectory() as folder:
        for pair in range(pairs):
            # ABBA: on/off, then off/on, so whatever the first run of a pair pays (a fresh
            # emulator state, caches) falls on both sides alike.
            for with_log in ((True, False) if pair % 2 == 0 else (False, True)):
                sf.reset()
                state = Path(folder) / f"state-{pair}-{with_log}.db"
                env = env_for(dc, sf, f"sqlite:///{state}", batch)
                done = child("bench.child", {"mode": "engine", "sync_log": with_log}, env)
                assert done["created"] == records, done
                times[with_log].append(float(done["seconds"]))
                cpu[with_log].append(float(done["cpu_s"]))
                print(f"pair {pair + 1}: sync log {'on ' if with_log else 'off'} "
                      f"{done['seconds']:.1f} s, {done['cpu_s']:.1f} s CPU", flush=True)
                if with_log and "sqlite" not in sizes:
                    sizes["sqlite"] = _sqlite_bytes(state)
        if postgres:
            _reset_postgres(postgres)
            if postgres_records and postgres_records != records:
                dc.generate(postgres_records)  # the size per row does not depend on the count
            sf.reset()
            child("bench.child", {"mode": "engine"}, env_for(dc, sf, postgres, batch))
            sizes["postgresql"] = _postgres_bytes(postgres)
    on, off = statistics.median(times[True]), statistics.median(times[False])
    cpu_on, cpu_off = statistics.median(cpu[True]), statistics.median(cpu[False])
    per_100k = {db: {"rows": s["rows"], "mb_per_100k": round(
        s["bytes"] / max(s["rows"], 1) * 100_000 / 2**20, 1)} for db, s in sizes.items()}
    return {"records": records, "pairs": pairs, "seconds_with_log": times[True],
            "seconds_without_log": times[False], "median_with_log": on,
            "median_without_log": off, "ratio": round(on / off, 3), "target_ratio": 1.10,
            "cpu_with_log": cpu[True], "cpu_without_log": cpu[False],
            "cpu_ratio": round(cpu_on / cpu_off, 3),
            "table": per_100k}


def main() -> None:
    """Measure, print and save."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--pairs", type=int, default=2, help="runs with and without, each")
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--postgres", help="a PostgreSQL URL whose public schema may be wiped")
    parser.add_argument("--postgres-records", type=int,
                        help="offerings for the PostgreSQL size run (default: --records)")
    args = parser.parse_args()
    started = load()
    result = measure(args.records, args.pairs, args.batch, args.postgres, args.postgres_records)
    result["machine"] = {"date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
                         "load_at_start": started, "load_at_end": load()}
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
