#!/usr/bin/env python3
"""Backup, restore and drill times for a database of at least 1 GB, median of N runs.

On the molecule scenario db's host (destroyed and converged afresh): a table
filled until the platform database holds at least --gib GiB, then N full
backups timed, then N restore drills (each restores the newest backup and the
WAL up to a fresh restore point into a scratch instance, recovers it and
compares every table's rows and checksum with the source). The restore time
is the drill's own figure (pgbackrest restore until the copy accepts
queries); the drill's duration includes the source's checksums and the copy's.
Prints the medians and samples, compares them with the targets, and exits 1
when a median misses its target or a drill fails.

Run with `make bench-db` (the lab network and image must exist: `make lab`).
Not while `molecule test -s db` runs: they share the instance.
Usage: db_backup.py [--runs N] [--gib G] [--keep]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from medians import print_medians

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = "db"
INSTANCE = "db"
# Targets for 1 GiB on a 2-core machine, seconds: about 3 times the medians measured
# (31, 6.6, 55 s) while other work shared the machine.
TARGETS = {"backup (full)": 90.0, "restore": 60.0, "drill": 180.0}
ENV = {**os.environ, "PY_COLORS": "0", "ANSIBLE_FORCE_COLOR": "false"}
# Rows of ~200 bytes: random text that compresses about as well as real data.
FILL = (
    "INSERT INTO bench (payload, note) SELECT md5(g::text) || repeat(md5((g * 7)::text), 3), "
    "'row ' || g FROM generate_series({start}, {end}) g"
)


def molecule(action: str) -> None:
    result = subprocess.run(
        ["molecule", action, "-s", SCENARIO], cwd=ROOT, env=ENV, capture_output=True, text=True
    )
    if result.returncode != 0:
        sys.exit(
            f"molecule {action} -s {SCENARIO} failed:\n{(result.stdout + result.stderr)[-4000:]}"
        )


def on_host(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(["docker", "exec", INSTANCE, *args], capture_output=True, text=True)
    if check and result.returncode != 0:
        sys.exit(f"{' '.join(args)} failed:\n{result.stdout}{result.stderr}")
    return result


def sql(query: str) -> str:
    return on_host(
        "runuser",
        "-u",
        "postgres",
        "--",
        "psql",
        "-XAtq",
        "-v",
        "ON_ERROR_STOP=1",
        "-d",
        "platform",
        "-c",
        query,
    ).stdout.strip()


def metric(name: str, path: str) -> float:
    text = on_host("cat", f"/var/lib/prometheus/node-exporter/{path}").stdout
    match = re.search(rf"^{name}(?:{{[^}}]*}})? (\S+)$", text, re.MULTILINE)
    if not match:
        sys.exit(f"{name} is not in {path}:\n{text}")
    return float(match.group(1))


def fill(gib: float) -> int:
    sql("CREATE TABLE IF NOT EXISTS bench (id bigserial PRIMARY KEY, payload text, note text)")
    target = int(gib * 1024**3)
    start = 1
    while int(sql("SELECT pg_database_size('platform')")) < target:
        end = start + 1_000_000 - 1
        sql(FILL.format(start=start, end=end))
        start = end + 1
    sql("VACUUM ANALYZE bench")
    return int(sql("SELECT pg_database_size('platform')"))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--gib", type=float, default=1.0)
    parser.add_argument("--keep", action="store_true", help="leave the instance for a look")
    args = parser.parse_args()

    print(f"fresh molecule host ({SCENARIO}): destroy, create, prepare, converge", flush=True)
    for action in ("destroy", "create", "prepare", "converge"):
        molecule(action)
    began = time.monotonic()
    size = fill(args.gib)
    rows = int(sql("SELECT count(*) FROM bench"))
    print(
        f"database platform: {size / 1024**3:.2f} GiB, {rows} rows "
        f"(filled in {time.monotonic() - began:.0f} s)",
        flush=True,
    )

    samples: dict[str, list[float]] = {name: [] for name in TARGETS}
    failed = False
    for i in range(args.runs):
        start = time.monotonic()
        on_host("slipway-pgbackrest", "backup", "--type", "full")
        samples["backup (full)"].append(time.monotonic() - start)
        print(f"full backup {i + 1}/{args.runs}: {samples['backup (full)'][-1]:.1f} s", flush=True)
    size_backup = metric("slipway_backup_newest_size_bytes", "slipway_backup.prom")
    for i in range(args.runs):
        result = on_host("slipway-pgbackrest", "drill", check=False)
        if result.returncode != 0:
            print(result.stdout[-3000:])
            failed = True
            continue
        samples["restore"].append(
            metric("slipway_restore_drill_restore_duration_seconds", "slipway_restore_drill.prom")
        )
        samples["drill"].append(
            metric("slipway_restore_drill_duration_seconds", "slipway_restore_drill.prom")
        )
        checked = metric("slipway_restore_drill_rows_checked", "slipway_restore_drill.prom")
        print(
            f"drill {i + 1}/{args.runs}: restore {samples['restore'][-1]:.1f} s, "
            f"drill {samples['drill'][-1]:.1f} s, {checked:.0f} rows compared",
            flush=True,
        )
    if not args.keep:
        molecule("destroy")

    print(
        f"\n{size_backup / 1024**3:.2f} GiB database, {args.runs} runs each "
        "(2 cores, shared with other work: medians)"
    )
    failed |= not print_medians(samples, TARGETS, "what")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
