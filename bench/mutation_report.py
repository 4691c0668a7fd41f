"""Kill rate per module from the last `mutmut run` (run by `make mutation`).

Reads `mutmut results --all true` (one `name: status` line per mutant) and prints a
Markdown table, then ONE JSON line of figures. Killed = caught by a test, or made the
tests time out; every other outcome (survived, no tests, suspicious) counts against
the rate. ETL's pipeline module is mostly Spark code that the mutation check does not
run (it would need a SparkSession per mutant); its quarantine accounting
(`_check_accounting`) is reported on its own line, the rest of that file is listed
for completeness only.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

KILLED = {"killed", "timeout"}
UNCOUNTED = {"skipped", "not checked"}
SCOPES = {  # report line -> predicate on (module, function)
    "dlcore.collective.auth": lambda m, f: m == "dlcore.collective.auth",
    # sockets (listen, connect) was part of wire.py until session 42: one line, as before
    "dlcore.collective.wire": lambda m, f: (
        m in ("dlcore.collective.wire", "dlcore.collective.sockets")
    ),
    "dlcore.serialization.files": lambda m, f: m == "dlcore.serialization.files",
    "dlcore.serialization.model": lambda m, f: m == "dlcore.serialization.model",
    "dlcore.serialization.optimizer_state": lambda m, f: (
        m == "dlcore.serialization.optimizer_state"
    ),
    # setup_differences was part of checkpoint.py until session 37: one line, as before
    "fraud_app.spark.checkpoint": lambda m, f: (
        m in ("fraud_app.spark.checkpoint", "fraud_app.spark.setup_differences")
    ),
    "fraud_app.etl.pipeline: _check_accounting": lambda m, f: (
        m == "fraud_app.etl.pipeline" and f == "_check_accounting"
    ),
    "(out of scope) fraud_app.etl.pipeline, Spark code": lambda m, f: (
        m == "fraud_app.etl.pipeline" and f != "_check_accounting"
    ),
}


def results() -> list[tuple[str, str]]:
    mutmut = Path(sys.executable).with_name("mutmut")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = subprocess.run(
        [str(mutmut), "results", "--all", "true"], capture_output=True, text=True, env=env,
        check=True,
    ).stdout  # fmt: skip
    pairs = []
    for line in out.splitlines():
        name, sep, status = line.strip().rpartition(": ")
        if sep and "__mutmut_" in name:
            pairs.append((name, status.strip()))
    return pairs


def split(name: str) -> tuple[str, str]:
    """'a.b.x_func__mutmut_3' -> ('a.b', 'func'); class methods: 'xǁClassǁmethod'."""
    module, _, mutant = name.rsplit("__mutmut_", 1)[0].rpartition(".")
    function = mutant[2:] if mutant.startswith("x_") else mutant.lstrip("xǁ").replace("ǁ", ".")
    return module, function


def main() -> int:
    by_scope: dict[str, Counter[str]] = defaultdict(Counter)
    survivors: dict[str, list[str]] = defaultdict(list)
    for name, status in results():
        module, function = split(name)
        for scope, member in SCOPES.items():
            if member(module, function):
                by_scope[scope][status] += 1
                if status not in KILLED | UNCOUNTED:
                    survivors[scope].append(f"{name} ({status})")
    print("| module | mutants | killed | survived | no tests | kill rate |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    figures = {}
    for scope in SCOPES:
        c = by_scope.get(scope, Counter())
        total = sum(n for s, n in c.items() if s not in UNCOUNTED)
        killed = sum(c[s] for s in KILLED)
        rate = killed / total if total else float("nan")
        figures[scope] = {"mutants": total, "killed": killed, "kill_rate": round(rate, 4)}
        print(f"| {scope} | {total} | {killed} | {c['survived']} | {c['no tests']} | {rate:.1%} |")
    for scope, names in survivors.items():
        if not scope.startswith("(out of scope)"):
            print(f"\nnot killed in {scope}:", *names, sep="\n  ", file=sys.stderr)
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
