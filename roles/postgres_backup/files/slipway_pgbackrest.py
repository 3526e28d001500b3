#!/usr/bin/python3
"""slipway-pgbackrest: pgBackRest backups, checks and restore drills that leave metrics.

Installed by the role postgres_backup as /usr/local/sbin/slipway-pgbackrest and
run by its systemd timers (or by hand, as root):

  slipway-pgbackrest backup --type full|diff|incr   back up, expire, write metrics
  slipway-pgbackrest verify                         pgbackrest check + verify, write metrics
  slipway-pgbackrest drill [--target-time T] [--keep]
      restore into a scratch instance and prove it: by default up to a restore
      point made now, with the tables' row counts and checksums taken at that
      very point on the source; with --target-time, to that time (smoke
      queries only). Writes metrics; exits 1 loudly on any failure.
  slipway-pgbackrest check-target --target-time T   can a restore reach T? (reads only)
  slipway-pgbackrest info                           the repository's backups (JSON)

Settings come from /etc/slipway/pgbackrest.json (written by the role). Metrics
go to node_exporter's textfile collector directory, each file replaced
atomically. Only the standard library and python3-psycopg2 (for the drill).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import fcntl
import json
import os
import re
import shutil
import subprocess  # nosec B404  # pgbackrest, psql, pg_ctl: fixed arguments, no shell
import sys
import tempfile
import time
from pathlib import Path

CONFIG = Path(os.environ.get("SLIPWAY_PGBACKREST_CONFIG", "/etc/slipway/pgbackrest.json"))
LOCK = Path("/run/lock/slipway-pgbackrest.lock")
BACKUP_TYPES = ("full", "diff", "incr")
# The counters pgbackrest verify prints per backup and archive; any above 0 is a failure.
VERIFY_ERRORS = re.compile(r"\b(checksum invalid|size invalid|missing|other): ([1-9][0-9]*)")


class DrillError(Exception):
    """A step of the drill failed; the message says which and why."""


# ---- Pure helpers (unit-tested) ---------------------------------------------------


def escape_label(value: str) -> str:
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def render_metrics(metrics: list[tuple[str, str, str, dict[str, str], float]]) -> str:
    """Prometheus text format from (name, type, help, labels, value), grouped by name."""
    lines: list[str] = []
    seen: set[str] = set()
    for name, kind, help_text, labels, value in metrics:
        if name not in seen:
            seen.add(name)
            lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
        label_text = ",".join(f'{k}="{escape_label(v)}"' for k, v in sorted(labels.items()))
        number = repr(float(value)) if not float(value).is_integer() else str(int(value))
        lines.append(f"{name}{{{label_text}}} {number}" if label_text else f"{name} {number}")
    return "\n".join(lines) + "\n"


def write_atomically(path: Path, text: str) -> None:
    """Replace path with text: a reader (node_exporter) sees the old file or the new one.
    The steps of the collection's module_utils/_atomic_file.py (this script is installed
    alone, with nothing to import)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as handle:
            os.fchmod(handle.fileno(), 0o644)
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def parse_target_time(text: str, *, now: dt.datetime | None = None) -> dt.datetime:
    """An ISO 8601 time (UTC when it names no zone); refuses one in the future."""
    try:
        value = dt.datetime.fromisoformat(text.strip().replace(" ", "T", 1).replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValueError(
            f"target time {text!r} is not a time: give ISO 8601, e.g. 2026-11-23 02:10:00+00:00"
        ) from exc
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    now = now or dt.datetime.now(dt.timezone.utc)
    if value > now:
        raise ValueError(
            f"target time {value.isoformat()} is in the future "
            f"(now {now.isoformat(timespec='seconds')}): "
            "a restore can only go back to a time that has passed"
        )
    return value


def backups_of(info: list[dict]) -> list[dict]:
    """The stanza's backups from `pgbackrest info --output=json`, oldest first."""
    if not info:
        return []
    return sorted(info[0].get("backup", []), key=lambda b: b["timestamp"]["stop"])


def check_target_in_range(target: dt.datetime, backups: list[dict]) -> dict:
    """The backup a restore to target starts from; ValueError when none can reach it."""
    if not backups:
        raise ValueError(
            "the repository holds no backup: take one first (slipway-pgbackrest backup --type full)"
        )
    oldest = backups[0]
    oldest_stop = dt.datetime.fromtimestamp(oldest["timestamp"]["stop"], dt.timezone.utc)
    if target < oldest_stop:
        raise ValueError(
            f"target time {target.isoformat()} is before the oldest backup can restore to "
            f"({oldest['label']}, consistent from {oldest_stop.isoformat()}): pick a later time"
        )
    usable = [
        b
        for b in backups
        if dt.datetime.fromtimestamp(b["timestamp"]["stop"], dt.timezone.utc) <= target
    ]
    return usable[-1]


def verify_failures(output: str) -> list[str]:
    """Lines of `pgbackrest verify` output that report a problem (it exits 0 on some)."""
    bad = []
    for line in output.splitlines():
        text = line.strip()
        if (
            "status: error" in text
            or "status: invalid" in text
            or "invalid checksum '" in text
            or VERIFY_ERRORS.search(text)
            or " ERROR: " in f" {text} "
        ):
            bad.append(text)
    return bad


def compare_snapshots(source: dict[str, dict], restored: dict[str, dict]) -> list[str]:
    """Differences between {db: {table: [rows, checksum]}} taken on source and restored copy."""
    problems = []
    for database, tables in sorted(source.items()):
        copy = restored.get(database, {})
        for table, (rows, checksum) in sorted(tables.items()):
            if table not in copy:
                problems.append(f"{database}.{table}: missing from the restored copy")
            elif copy[table][0] != rows:
                problems.append(
                    f"{database}.{table}: {copy[table][0]} rows restored, {rows} on the source"
                )
            elif copy[table][1] != checksum:
                problems.append(f"{database}.{table}: {rows} rows but their checksum differs")
        for table in sorted(set(copy) - set(tables)):
            problems.append(f"{database}.{table}: in the restored copy but not on the source")
    return problems


# ---- The host: settings, state, commands --------------------------------------------------


def load_config() -> dict:
    return json.loads(CONFIG.read_text())


def load_state(cfg: dict) -> dict:
    path = Path(cfg["state_dir"]) / "state.json"
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return {}


def save_state(cfg: dict, state: dict) -> None:
    write_atomically(
        Path(cfg["state_dir"]) / "state.json", json.dumps(state, indent=2, sort_keys=True)
    )


def say(message: str) -> None:
    print(f"slipway-pgbackrest: {message}", flush=True)


def as_postgres(args: list[str], *, check: bool = True, capture: bool = True, timeout=None):
    """Run a command as the postgres account (pgBackRest and the server refuse root)."""
    kwargs = {}
    if os.geteuid() == 0:
        kwargs = {"user": "postgres", "group": "postgres", "extra_groups": []}
    # Fixed argument lists built here; nothing goes through a shell.
    result = subprocess.run(  # nosec B603
        args,
        stdout=subprocess.PIPE if capture else None,
        stderr=subprocess.STDOUT if capture else None,
        text=True,
        check=False,
        cwd="/",
        timeout=timeout,
        env={**os.environ, "HOME": "/var/lib/postgresql"},
        **kwargs,
    )
    if check and result.returncode != 0:
        raise DrillError(
            f"{' '.join(args[:3])} ... failed (exit {result.returncode}):\n{result.stdout or ''}"
        )
    return result


def pgbackrest(cfg: dict, *args: str, check: bool = True, timeout=None):
    return as_postgres(
        ["pgbackrest", f"--stanza={cfg['stanza']}", *args], check=check, timeout=timeout
    )


def repository_info(cfg: dict) -> list[dict]:
    result = pgbackrest(cfg, "--output=json", "info")
    return json.loads(result.stdout[result.stdout.index("[") :])


@contextlib.contextmanager
def exclusive():
    """One operation at a time: a timer's backup waits for a running drill, and so on."""
    LOCK.parent.mkdir(parents=True, exist_ok=True)
    with open(LOCK, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


# ---- backup ----------------------------------------------------------------------------------


def backup_metrics(cfg: dict, state: dict, backups: list[dict]) -> str:
    stanza = {"stanza": cfg["stanza"]}
    metrics = []
    for kind in BACKUP_TYPES:
        entry = state.get("backup", {}).get(kind)
        if not entry:
            continue
        labels = {**stanza, "type": kind}
        metrics += [
            (
                "slipway_backup_last_outcome",
                "gauge",
                "1 when the last backup of this type succeeded, 0 when it failed.",
                labels,
                entry["outcome"],
            ),
            (
                "slipway_backup_last_run_timestamp_seconds",
                "gauge",
                "When the last backup of this type ended.",
                labels,
                entry["run"],
            ),
            (
                "slipway_backup_last_duration_seconds",
                "gauge",
                "How long the last backup of this type took.",
                labels,
                entry["duration"],
            ),
        ]
        if entry.get("success"):
            metrics.append(
                (
                    "slipway_backup_last_success_timestamp_seconds",
                    "gauge",
                    "When the last successful backup of this type ended.",
                    labels,
                    entry["success"],
                )
            )
    if backups:
        newest = backups[-1]
        metrics += [
            (
                "slipway_backup_newest_timestamp_seconds",
                "gauge",
                "When the newest backup in the repository ended (its age is time() minus this).",
                stanza,
                newest["timestamp"]["stop"],
            ),
            (
                "slipway_backup_oldest_timestamp_seconds",
                "gauge",
                "When the oldest backup in the repository ended (how far back a restore can go).",
                stanza,
                backups[0]["timestamp"]["stop"],
            ),
            (
                "slipway_backup_count",
                "gauge",
                "Backups held in the repository.",
                stanza,
                len(backups),
            ),
            (
                "slipway_backup_newest_size_bytes",
                "gauge",
                "Size of the database in the newest backup.",
                stanza,
                newest.get("info", {}).get("size", 0),
            ),
        ]
    return render_metrics(metrics)


def cmd_backup(cfg: dict, args) -> int:
    start = time.time()
    say(f"{args.type} backup of stanza {cfg['stanza']} begins")
    result = pgbackrest(cfg, f"--type={args.type}", "backup", check=False)
    end = time.time()
    print(result.stdout, end="")
    ok = result.returncode == 0
    state = load_state(cfg)
    previous = state.setdefault("backup", {}).get(args.type, {})
    state["backup"][args.type] = {
        "outcome": int(ok),
        "run": end,
        "duration": round(end - start, 3),
        "success": end if ok else previous.get("success"),
    }
    save_state(cfg, state)
    try:
        backups = backups_of(repository_info(cfg))
    except (DrillError, ValueError):
        backups = []
    write_atomically(
        Path(cfg["metrics_dir"]) / "slipway_backup.prom", backup_metrics(cfg, state, backups)
    )
    say(f"{args.type} backup {'succeeded' if ok else 'FAILED'} in {end - start:.1f} s")
    return 0 if ok else 1


# ---- verify ----------------------------------------------------------------------------------


def cmd_verify(cfg: dict, args) -> int:
    start = time.time()
    check = pgbackrest(cfg, "check", check=False)
    print(check.stdout, end="")
    verify = pgbackrest(cfg, "--log-level-console=info", "verify", check=False)
    print(verify.stdout, end="")
    end = time.time()
    problems = verify_failures(verify.stdout)
    verify_ok = verify.returncode == 0 and not problems
    stanza = {"stanza": cfg["stanza"]}
    state = load_state(cfg)
    if verify_ok and check.returncode == 0:
        state["verify_success"] = end
    save_state(cfg, state)
    metrics = [
        (
            "slipway_backup_check_success",
            "gauge",
            "1 when pgbackrest check (archiving works) passed.",
            stanza,
            int(check.returncode == 0),
        ),
        (
            "slipway_backup_verify_success",
            "gauge",
            "1 when pgbackrest verify found every file of the repository intact.",
            stanza,
            int(verify_ok),
        ),
        (
            "slipway_backup_verify_problems",
            "gauge",
            "Problems pgbackrest verify reported.",
            stanza,
            len(problems),
        ),
        (
            "slipway_backup_verify_last_run_timestamp_seconds",
            "gauge",
            "When the last check and verify ended.",
            stanza,
            end,
        ),
        (
            "slipway_backup_verify_duration_seconds",
            "gauge",
            "How long check and verify took.",
            stanza,
            round(end - start, 3),
        ),
    ]
    if state.get("verify_success"):
        metrics.append(
            (
                "slipway_backup_verify_last_success_timestamp_seconds",
                "gauge",
                "When check and verify last both passed.",
                stanza,
                state["verify_success"],
            )
        )
    write_atomically(
        Path(cfg["metrics_dir"]) / "slipway_backup_verify.prom", render_metrics(metrics)
    )
    if check.returncode != 0:
        say(f"CHECK FAILED: pgbackrest check exited {check.returncode}")
    if not verify_ok:
        say(f"VERIFY FAILED: the repository of stanza {cfg['stanza']} is damaged or incomplete:")
        for line in problems or [f"pgbackrest verify exited {verify.returncode}"]:
            say(f"  {line}")
    if verify_ok and check.returncode == 0:
        say("check and verify passed")
        return 0
    return 1


# ---- drill -----------------------------------------------------------------------------------

# Order-independent: the sum of each row's hash, so no sort and no big string.
CHECKSUM_SQL = (
    "SELECT count(*), coalesce(sum(('x' || left(md5(t::text), 15))::bit(60)::bigint), 0)::text "
    "FROM {} t"
)
TABLES_SQL = (
    "SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c "
    "JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
    "AND n.nspname NOT LIKE 'pg_toast%' AND n.nspname NOT LIKE 'pg_temp%' ORDER BY 1"
)
# Settings a recovering server must have at least as high as the source.
SOURCE_SETTINGS = (
    "max_connections",
    "max_worker_processes",
    "max_wal_senders",
    "max_prepared_transactions",
    "max_locks_per_transaction",
)


def table_checksums(cursor) -> dict[str, list]:
    cursor.execute(TABLES_SQL)
    tables = [row[0] for row in cursor.fetchall()]
    result = {}
    for table in tables:
        # The name comes from format('%I.%I'): quoted by PostgreSQL itself.
        cursor.execute(CHECKSUM_SQL.format(table))
        rows, checksum = cursor.fetchone()
        result[table] = [int(rows), checksum]
    return result


def snapshot_source(params: dict) -> dict:
    """(As postgres) lock the drill databases' tables against writes, take their checksums
    and make a restore point, all at one moment: what a restore to that point must hold."""
    import psycopg2

    connections = []
    failing: dict[str, dict[str, str]] = {}
    try:
        snapshot: dict[str, dict] = {}
        for database in params["databases"]:
            conn = psycopg2.connect(dbname=database, host=params["socket"], port=params["port"])
            connections.append(conn)
            cursor = conn.cursor()
            cursor.execute("SET lock_timeout = %s", (params["lock_timeout"],))
            cursor.execute(TABLES_SQL)
            tables = [row[0] for row in cursor.fetchall()]
            if tables:
                # SHARE mode: readers go on, writers wait until the restore point is made.
                cursor.execute(f"LOCK TABLE {', '.join(tables)} IN SHARE MODE")
            snapshot[database] = table_checksums(cursor)
            failing[database] = source_smoke_failures(cursor, params.get("smoke_queries", []))
        if not connections:
            conn = psycopg2.connect(dbname="postgres", host=params["socket"], port=params["port"])
            connections.append(conn)
        cursor = connections[0].cursor()
        settings = {}
        for name in SOURCE_SETTINGS:
            cursor.execute(f"SHOW {name}")
            settings[name] = cursor.fetchone()[0]
        cursor.execute("SELECT pg_create_restore_point(%s)::text", (params["restore_point"],))
        lsn = cursor.fetchone()[0]
        for conn in connections:
            conn.commit()
        # Close the segment so the archiver ships the restore point now.
        connections[0].autocommit = True
        connections[0].cursor().execute("SELECT pg_switch_wal()")
        return {"tables": snapshot, "settings": settings, "lsn": lsn, "smoke_failing": failing}
    finally:
        for conn in connections:
            conn.close()


def source_smoke_failures(cursor, queries: list[str]) -> dict[str, str]:
    """The smoke queries that fail on the source itself ({sql: error}): a copy cannot be
    blamed for them (e.g. a new fleet backed up before the platform's migrations ran)."""
    import psycopg2

    failing = {}
    for sql in queries:
        cursor.execute("SAVEPOINT slipway_smoke")
        try:
            cursor.execute(sql)
            if cursor.description:
                cursor.fetchall()
        except psycopg2.Error as exc:
            failing[sql] = str(exc).strip().splitlines()[0]
        cursor.execute("ROLLBACK TO SAVEPOINT slipway_smoke")
    return failing


def inspect_copy(params: dict) -> dict:
    """(As postgres) run the smoke queries and take the checksums on the restored copy."""
    import psycopg2

    snapshot: dict[str, dict] = {}
    failures: list[str] = []
    skipped: list[str] = []
    for database in params["databases"]:
        conn = psycopg2.connect(dbname=database, host=params["socket"], port=params["port"])
        conn.autocommit = True
        try:
            cursor = conn.cursor()
            on_source = params.get("source_failing", {}).get(database, {})
            for sql in params["smoke_queries"]:
                if sql in on_source:
                    skipped.append(f"{database}: {sql!r} fails on the source too: {on_source[sql]}")
                    continue
                try:
                    cursor.execute(sql)
                    if cursor.description:
                        cursor.fetchall()
                except psycopg2.Error as exc:
                    failures.append(f"{database}: smoke query {sql!r} failed: {str(exc).strip()}")
            if params.get("checksums", True):
                snapshot[database] = table_checksums(cursor)
        finally:
            conn.close()
    return {"tables": snapshot, "smoke_failures": failures, "smoke_skipped": skipped}


def in_postgres_process(mode: str, params: dict) -> dict:
    """Run snapshot_source/inspect_copy as the postgres account (peer authentication)."""
    result = as_postgres(
        [sys.executable, str(Path(__file__).resolve()), mode, json.dumps(params)], check=False
    )
    if result.returncode != 0:
        raise DrillError(f"{mode} failed:\n{result.stdout}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def scratch_config(cfg: dict, settings: dict) -> str:
    drill = cfg["drill"]
    lines = [
        "# The restore drill's scratch instance: local socket only, no archiving.",
        f"port = {drill['port']}",
        "listen_addresses = ''",
        f"unix_socket_directories = '{drill['dir']}/socket'",
        "archive_mode = off",
        "hot_standby = on",
        "shared_buffers = '128MB'",
        "fsync = off",
        "logging_collector = off",
        f"hba_file = '{drill['dir']}/pg_hba.conf'",
        f"ident_file = '{drill['dir']}/pg_ident.conf'",
    ]
    lines += [f"{name} = {value}" for name, value in sorted(settings.items())]
    return "\n".join(lines) + "\n"


def server_state(cfg: dict, data: Path) -> str:
    """'recovering', 'up' or 'down' for the scratch instance."""
    drill = cfg["drill"]
    ready = as_postgres(
        [
            f"{cfg['pg_bin']}/pg_isready",
            "-q",
            "-h",
            f"{drill['dir']}/socket",
            "-p",
            str(drill["port"]),
        ],
        check=False,
    )
    if ready.returncode != 0:
        alive = as_postgres([f"{cfg['pg_bin']}/pg_ctl", "-D", str(data), "status"], check=False)
        return "starting" if alive.returncode == 0 else "down"
    query = as_postgres(
        [
            "psql",
            "-XAtq",
            "-h",
            f"{drill['dir']}/socket",
            "-p",
            str(drill["port"]),
            "-d",
            "postgres",
            "-c",
            "SELECT pg_is_in_recovery()",
        ],
        check=False,
    )
    return (
        "recovering"
        if query.stdout.strip() == "t"
        else "up"
        if query.returncode == 0
        else "starting"
    )


def run_drill(cfg: dict, args, result: dict) -> None:
    drill = cfg["drill"]
    root = Path(drill["dir"])
    data = root / "data"
    backups = backups_of(repository_info(cfg))
    if not backups:
        raise DrillError("the repository holds no backup: nothing to restore")
    restore_args = ["--archive-mode=off", f"--pg1-path={data}"]
    source = None
    if args.target_time:
        try:
            target = parse_target_time(args.target_time)
            base = check_target_in_range(target, backups)
        except ValueError as exc:
            raise DrillError(str(exc)) from exc
        restore_args += [
            "--type=time",
            f"--target={target.strftime('%Y-%m-%d %H:%M:%S.%f+00')}",
            "--target-action=promote",
        ]
        say(f"restoring to {target.isoformat()} from backup {base['label']} and the archived WAL")
    else:
        base = backups[-1]
        point = f"slipway-drill-{dt.datetime.now(dt.timezone.utc).strftime('%Y%m%dT%H%M%SZ')}"
        say(f"taking the source's checksums and making restore point {point}")
        source = in_postgres_process(
            "_snapshot",
            {
                "databases": drill["databases"],
                "socket": cfg["pg_socket"],
                "port": cfg["pg_port"],
                "lock_timeout": drill["lock_timeout"],
                "restore_point": point,
                "smoke_queries": drill["smoke_queries"],
            },
        )
        # check switches WAL and waits until it is archived: the restore point is in the repository.
        pgbackrest(cfg, "check")
        restore_args += ["--type=name", f"--target={point}", "--target-action=promote"]
        say(f"restoring backup {base['label']} and the WAL up to {point}")
    result["backup_age"] = time.time() - base["timestamp"]["stop"]
    result["backup_label"] = base["label"]

    stop_scratch(cfg)
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(mode=0o700, parents=True)
    (root / "socket").mkdir(mode=0o700)
    shutil.chown(root, "postgres", "postgres")
    shutil.chown(root / "socket", "postgres", "postgres")
    restore_start = time.time()
    pgbackrest(cfg, *restore_args, "restore")
    settings = source["settings"] if source else current_settings(cfg)
    (data / "postgresql.conf").write_text(scratch_config(cfg, settings))
    (root / "pg_hba.conf").write_text("local all all peer\n")
    (root / "pg_ident.conf").write_text("")
    for path in (data / "postgresql.conf", root / "pg_hba.conf", root / "pg_ident.conf"):
        shutil.chown(path, "postgres", "postgres")
    start = as_postgres(
        [
            f"{cfg['pg_bin']}/pg_ctl",
            "-D",
            str(data),
            "-l",
            str(root / "server.log"),
            "-w",
            "-t",
            "60",
            "start",
        ],
        check=False,
    )
    deadline = time.time() + drill["timeout"]
    state = server_state(cfg, data)
    while state in ("recovering", "starting") and time.time() < deadline:
        time.sleep(1)
        state = server_state(cfg, data)
    result["restore_duration"] = time.time() - restore_start
    if state != "up":
        log = (
            (root / "server.log").read_text(errors="replace")[-3000:]
            if (root / "server.log").exists()
            else ""
        )
        raise DrillError(
            f"the restored copy did not come up ({state}; pg_ctl exit {start.returncode}):\n{log}"
        )
    say(f"restored and recovered in {result['restore_duration']:.1f} s; checking it")

    copy = in_postgres_process(
        "_inspect",
        {
            "databases": drill["databases"],
            "socket": str(root / "socket"),
            "port": drill["port"],
            "smoke_queries": drill["smoke_queries"],
            "checksums": source is not None,
            "source_failing": (source or {}).get("smoke_failing", {}),
        },
    )
    for note in copy.get("smoke_skipped", []):
        say(f"smoke query not checked: {note}")
    problems = list(copy["smoke_failures"])
    if source is not None:
        problems += compare_snapshots(source["tables"], copy["tables"])
        result["tables"] = sum(len(t) for t in source["tables"].values())
        result["rows"] = sum(r for t in source["tables"].values() for r, _checksum in t.values())
    result["mismatches"] = len(problems)
    if problems:
        raise DrillError("the restored copy failed its checks:\n  " + "\n  ".join(problems))


def current_settings(cfg: dict) -> dict:
    result = as_postgres(
        [
            "psql",
            "-XAtq",
            "-h",
            cfg["pg_socket"],
            "-p",
            str(cfg["pg_port"]),
            "-d",
            "postgres",
            "-c",
            " UNION ALL ".join(f"SELECT '{n}', current_setting('{n}')" for n in SOURCE_SETTINGS),
            "-F",
            "=",
        ],
        check=False,
    )
    if result.returncode != 0:
        return {}
    return dict(line.split("=", 1) for line in result.stdout.split())


def stop_scratch(cfg: dict) -> None:
    data = Path(cfg["drill"]["dir"]) / "data"
    if (data / "postmaster.pid").exists():
        as_postgres(
            [f"{cfg['pg_bin']}/pg_ctl", "-D", str(data), "-m", "immediate", "-w", "stop"],
            check=False,
        )


def drill_metrics(cfg: dict, state: dict, result: dict) -> str:
    stanza = {"stanza": cfg["stanza"]}
    metrics = [
        (
            "slipway_restore_drill_success",
            "gauge",
            "1 when the last restore drill passed, 0 when it failed.",
            stanza,
            int(result["ok"]),
        ),
        (
            "slipway_restore_drill_last_run_timestamp_seconds",
            "gauge",
            "When the last restore drill ended.",
            stanza,
            result["end"],
        ),
        (
            "slipway_restore_drill_duration_seconds",
            "gauge",
            "How long the last restore drill took, in all.",
            stanza,
            round(result["end"] - result["start"], 3),
        ),
    ]
    optional = [
        (
            "restore_duration",
            "slipway_restore_drill_restore_duration_seconds",
            "Restore and recovery time of the last drill "
            "(pgbackrest restore until the copy accepts queries).",
        ),
        (
            "backup_age",
            "slipway_restore_drill_backup_age_seconds",
            "Age of the backup the last drill restored, when it ran.",
        ),
        (
            "tables",
            "slipway_restore_drill_tables_checked",
            "Tables whose rows and checksum the last drill compared.",
        ),
        ("rows", "slipway_restore_drill_rows_checked", "Rows the last drill compared."),
        (
            "mismatches",
            "slipway_restore_drill_mismatches",
            "Differences and failed smoke queries in the last drill.",
        ),
    ]
    for key, name, help_text in optional:
        if key in result:
            metrics.append((name, "gauge", help_text, stanza, round(result[key], 3)))
    if state.get("drill_success"):
        metrics.append(
            (
                "slipway_restore_drill_last_success_timestamp_seconds",
                "gauge",
                "When a restore drill last passed.",
                stanza,
                state["drill_success"],
            )
        )
    return render_metrics(metrics)


def cmd_drill(cfg: dict, args) -> int:
    result: dict = {"start": time.time(), "ok": False}
    try:
        run_drill(cfg, args, result)
        result["ok"] = True
    except DrillError as exc:
        say(f"RESTORE DRILL FAILED: {exc}")
    finally:
        if not args.keep:
            stop_scratch(cfg)
            shutil.rmtree(cfg["drill"]["dir"], ignore_errors=True)
        result["end"] = time.time()
        state = load_state(cfg)
        if result["ok"]:
            state["drill_success"] = result["end"]
        save_state(cfg, state)
        write_atomically(
            Path(cfg["metrics_dir"]) / "slipway_restore_drill.prom",
            drill_metrics(cfg, state, result),
        )
    if result["ok"]:
        checked = (
            f"{result.get('tables', 0)} tables, {result.get('rows', 0)} rows match the source; "
            if "rows" in result
            else ""
        )
        say(
            f"restore drill passed in {result['end'] - result['start']:.1f} s: "
            f"backup {result['backup_label']}, {checked}"
            f"restore {result['restore_duration']:.1f} s"
        )
        if args.keep:
            drill = cfg["drill"]
            say(f"the copy is still running: psql -h {drill['dir']}/socket -p {drill['port']}")
    return 0 if result["ok"] else 1


def cmd_check_target(cfg: dict, args) -> int:
    """Refuse a restore target in the future or before the oldest backup; name the base backup."""
    try:
        target = parse_target_time(args.target_time)
        base = check_target_in_range(target, backups_of(repository_info(cfg)))
    except (ValueError, DrillError) as exc:
        say(f"REFUSED: {exc}")
        return 1
    print(
        json.dumps({"target": target.strftime("%Y-%m-%d %H:%M:%S.%f+00"), "backup": base["label"]})
    )
    return 0


def cmd_info(cfg: dict, args) -> int:
    print(json.dumps(repository_info(cfg), indent=2))
    return 0


def main(argv: list[str]) -> int:
    if len(argv) == 3 and argv[1] in ("_snapshot", "_inspect"):
        params = json.loads(argv[2])
        out = snapshot_source(params) if argv[1] == "_snapshot" else inspect_copy(params)
        print(json.dumps(out))
        return 0
    parser = argparse.ArgumentParser(
        prog="slipway-pgbackrest", description=__doc__.split("\n\n", maxsplit=1)[0]
    )
    sub = parser.add_subparsers(dest="command", required=True)
    backup = sub.add_parser("backup", help="back up, expire, write metrics")
    backup.add_argument("--type", choices=BACKUP_TYPES, required=True)
    sub.add_parser("verify", help="pgbackrest check and verify, write metrics")
    drill = sub.add_parser("drill", help="restore into a scratch instance and prove it")
    drill.add_argument("--target-time", help="restore to this time (ISO 8601; UTC when no zone)")
    drill.add_argument("--keep", action="store_true", help="leave the restored copy running")
    check_target = sub.add_parser(
        "check-target", help="can a restore reach this time? (reads only)"
    )
    check_target.add_argument("--target-time", required=True)
    sub.add_parser("info", help="the repository's backups (JSON)")
    args = parser.parse_args(argv[1:])
    cfg = load_config()
    commands = {
        "backup": cmd_backup,
        "verify": cmd_verify,
        "drill": cmd_drill,
        "check-target": cmd_check_target,
        "info": cmd_info,
    }
    if args.command in ("check-target", "info"):
        return commands[args.command](cfg, args)
    with exclusive():
        return commands[args.command](cfg, args)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
