"""Serve one emulator in this process: ``python -m emulators digitalchalk --port 8001``.

Used by the benchmarks, which need the emulators in processes of their own.
"""

from __future__ import annotations

import argparse
from typing import Any

import uvicorn

from offering_sync.emulators.server import EMULATORS, build


def main() -> None:
    """Parse arguments and serve until killed."""
    parser = argparse.ArgumentParser(prog="python -m emulators")
    parser.add_argument("system", choices=sorted(EMULATORS))
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--records", type=int, default=0, help="offerings to start with")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--latency-ms", type=float, default=0, help="added to every call")
    parser.add_argument("--max-batch", type=int, default=200, help="Salesforce: batch cap")
    parser.add_argument("--paging", choices=["object", "string", "array"], default="object",
                        help="Rhythm: LastEvaluatedKey as an object, a string, or a bare array")
    parser.add_argument("--listing", choices=["envelope", "array"], default="envelope",
                        help="DigitalChalk: {results, next, prev} or a bare array")
    parser.add_argument("--short-pages", action="store_true",
                        help="DigitalChalk: pages may hold fewer than limit while more follow")
    args = parser.parse_args()
    switches: dict[str, Any] = {}
    if args.system == "salesforce":
        switches["max_batch"] = args.max_batch
    if args.system == "rhythm":
        switches["paging"] = args.paging
    if args.system == "digitalchalk":
        switches.update(listing=args.listing, short_pages=args.short_pages)
    app = build(args.system, records=args.records, seed=args.seed, latency_ms=args.latency_ms,
                **switches)
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False,
                lifespan="off")


if __name__ == "__main__":
    main()
