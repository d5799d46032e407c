"""Serve one emulator in this process: ``python -m emulators digitalchalk --port 8001``.

Used by the benchmarks, which need the emulators in processes of their own.
"""

from __future__ import annotations

import argparse

import uvicorn

from offering_sync.emulators.server import EMULATORS


def main() -> None:
    """Parse arguments and serve until killed."""
    parser = argparse.ArgumentParser(prog="python -m emulators")
    parser.add_argument("system", choices=sorted(EMULATORS))
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--records", type=int, default=0, help="DigitalChalk: offerings")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--max-batch", type=int, default=200, help="Salesforce: batch cap")
    args = parser.parse_args()
    kwargs: dict[str, object] = {}
    if args.system == "digitalchalk":
        from offering_sync.emulators.digitalchalk import Catalog

        kwargs["catalog"] = Catalog(args.records, seed=args.seed)
    if args.system == "salesforce":
        kwargs["max_batch"] = args.max_batch
    app = EMULATORS[args.system](**kwargs)
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False,
                lifespan="off")


if __name__ == "__main__":
    main()
