"""Per-module mutation score from mutmut's result files (run after ``mutmut run``).

Usage: ``.venv/bin/python docs/mutation_score.py [--fail-under PERCENT]`` from the repository
root; prints one row per mutated module: killed, survived, no tests, timeout, other (suspicious,
not checked) and the score (killed + timeout) / (killed + survived + no tests + timeout); a
timeout is a mutant the tests stopped (an endless loop), so it counts as detected. With
``--fail-under`` it exits 2 when a module with checked mutants scores lower, so a CI step can
gate on a partial run (modules with nothing checked are left out).
"""

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

_STATUS = {1: "killed", 3: "killed", 0: "survived", 5: "no tests", 33: "no tests",
           36: "timeout", 24: "timeout", -24: "timeout", 152: "timeout", 255: "timeout"}


def main() -> int:
    """Print the table; exit 1 when there are no results, 2 when a score is under the bar."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fail-under", type=float, default=None, metavar="PERCENT")
    args = parser.parse_args()
    metas = sorted(Path("mutants").rglob("*.py.meta"))
    if not metas:
        print("no mutmut results under mutants/; run mutmut first", file=sys.stderr)
        return 1
    print(f"{'module':40} {'mutants':>7} {'killed':>6} {'surv.':>6} {'no tests':>8} "
          f"{'timeout':>7} {'other':>5} {'score':>6}")
    low: list[str] = []
    for meta in metas:
        try:
            codes = json.loads(meta.read_text())["exit_code_by_key"]
        except ValueError:  # mutmut is writing it right now
            print(f"{meta}: being written, run again")
            continue
        count = Counter(_STATUS.get(code, "other") for code in codes.values())
        tested = count["killed"] + count["survived"] + count["no tests"] + count["timeout"]
        score = (count["killed"] + count["timeout"]) / tested if tested else 0.0
        name = str(meta.relative_to("mutants"))[:-len(".meta")]
        print(f"{name:40} {len(codes):7} {count['killed']:6} {count['survived']:6} "
              f"{count['no tests']:8} {count['timeout']:7} {count['other']:5} {score:6.0%}")
        if args.fail_under is not None and tested and score * 100 < args.fail_under:
            low.append(f"{name} {score:.0%}")
    if low:
        print(f"under {args.fail_under:g} %: {', '.join(low)}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
