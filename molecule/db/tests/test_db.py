"""The db host: PostgreSQL and Redis as the platform needs them, and backups that restore.

The tests run in file order: the last one damages the backup repository.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

# The converge's throw-away test secrets.
APP_PASSWORD = "molecule-app-password-0123456789"  # noqa: S105
REDIS_PASSWORD = "molecule-redis-password-0123456789"  # noqa: S105
METRICS = "/var/lib/prometheus/node-exporter"
DRILL_SOCKET = "/var/lib/postgresql/slipway-drill/socket"
# The db scenario's playbooks (db_debian12 runs the same ones).
SCENARIO = Path(__file__).resolve().parent.parent


def sql(host, query: str, database: str = "platform", extra: str = "") -> str:
    """Run a query as the postgres account on the local socket; its rows, '|'-separated."""
    out = host.check_output(
        f'runuser -u postgres -- psql -XAtq -v ON_ERROR_STOP=1 {extra} -d {database} -c "{query}"'
    )
    return out.strip()


def metric(host, name: str, path: str) -> float:
    text = host.file(f"{METRICS}/{path}").content_string
    match = re.search(rf"^{name}(?:{{[^}}]*}})? (\S+)$", text, re.MULTILINE)
    assert match, f"{name} not in {path}:\n{text}"
    return float(match.group(1))


def address(host) -> str:
    return host.interface("eth0").addresses[0]


def as_app(host, query: str, sslmode: str = "prefer", password: str = APP_PASSWORD):
    """psql over TCP to the host's private address, as the platform's user."""
    dsn = f"host={address(host)} dbname=platform user=platform sslmode={sslmode}"
    return host.run(f"PGPASSWORD={password} psql -XAtq -v ON_ERROR_STOP=1 '{dsn}' -c '{query}'")


def converge_again(*extra: str) -> subprocess.CompletedProcess:
    """The scenario's converge once more, with extra arguments; stdout and stderr together."""
    return subprocess.run(
        [str(Path(sys.executable).parent / "ansible-playbook"), "converge.yml", *extra],
        cwd=SCENARIO,
        env=os.environ
        | {"ANSIBLE_INVENTORY": os.environ["MOLECULE_INVENTORY_FILE"], "ANSIBLE_NOCOLOR": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=600,
        check=False,
    )


# ---- PostgreSQL --------------------------------------------------------------------------


def test_postgres_serves_the_app_user_over_tls_only(host):
    ok = as_app(host, "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()", "require")
    assert ok.rc == 0, ok.stderr
    assert ok.stdout.strip() == "t"
    plain = as_app(host, "SELECT 1", "disable")
    assert plain.rc != 0
    assert "no pg_hba.conf entry" in plain.stderr
    wrong = as_app(host, "SELECT 1", "require", password="wrong")  # noqa: S106
    assert "password authentication failed" in wrong.stderr


def test_postgres_app_user_owns_its_database_and_may_create_tables(host):
    result = as_app(host, "CREATE TABLE owner_probe (id int); DROP TABLE owner_probe")
    assert result.rc == 0, result.stderr
    assert (
        sql(host, "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'platform'")
        == "platform"
    )
    assert (
        sql(
            host,
            "SELECT rolname FROM pg_roles"
            " WHERE pg_has_role('monitoring', oid, 'member') AND rolname = 'pg_monitor'",
        )
        == "pg_monitor"
    )
    assert (
        sql(
            host,
            "SELECT rolpassword LIKE 'SCRAM-SHA-256$%' FROM pg_authid WHERE rolname = 'platform'",
        )
        == "t"
    )


def test_postgres_runs_debians_own_major_for_the_release(host):
    release = host.system_info.release.split(".")[0]
    expected = {"12": "15", "13": "17"}[release]
    assert (
        host.file(f"/var/lib/postgresql/{expected}/main/PG_VERSION").content_string.strip()
        == expected
    )
    assert sql(host, "SHOW server_version_num", "postgres")[:2] == expected


def test_a_converge_to_another_major_is_refused_before_anything_changes(host):
    # As on a host moved to a new Debian release in place: the data is of one
    # major, postgres_version (its default follows the release) of another.
    settings = host.file("/etc/postgresql").listdir()
    result = converge_again("-e", "postgres_version=16")
    print(result.stdout[-1500:])
    assert result.returncode == 2
    assert "cluster is PostgreSQL" in result.stdout
    assert "postgres_version is 16" in result.stdout
    assert "Nothing was changed." in result.stdout
    assert host.file("/etc/postgresql").listdir() == settings
    assert not host.package("postgresql-16").is_installed


def test_postgres_is_sized_and_archives_wal(host):
    assert sql(host, "SHOW shared_buffers") == "256MB"
    assert sql(host, "SHOW archive_mode") == "on"
    assert "pgbackrest" in sql(host, "SHOW archive_command")
    assert host.socket(f"tcp://{address(host)}:5432").is_listening
    assert not host.socket("tcp://0.0.0.0:5432").is_listening


# ---- Redis -----------------------------------------------------------------------------------


def test_redis_needs_the_password_and_persists_with_aof(host):
    ip = address(host)
    assert "NOAUTH" in host.run(f"redis-cli -h {ip} PING").stdout
    auth = f"redis-cli --no-auth-warning -a {REDIS_PASSWORD} -h {ip}"
    assert host.check_output(f"{auth} PING") == "PONG"
    assert host.check_output(f"{auth} CONFIG GET appendonly").split() == ["appendonly", "yes"]
    assert host.check_output(f"{auth} CONFIG GET maxmemory-policy").split()[-1] == "noeviction"
    assert host.check_output(f"{auth} CONFIG GET maxmemory").split()[-1] == str(128 * 1024 * 1024)
    # What the platform uses: a stream with a consumer group, and keys.
    host.check_output(f"{auth} XADD molecule:stream '*' task 1")
    assert host.socket(f"tcp://{ip}:6379").is_listening
    assert host.socket("tcp://127.0.0.1:6379").is_listening
    assert host.file("/etc/redis/redis.conf").mode == 0o640


# ---- Backups ---------------------------------------------------------------------------------


def test_backup_timers_are_scheduled(host):
    for timer in ("full", "diff", "incr", "verify"):
        assert host.service(f"slipway-backup-{timer}.timer").is_enabled
    assert host.service("slipway-restore-drill.timer").is_enabled
    assert host.file("/etc/pgbackrest.conf").mode == 0o640
    assert "repo1-cipher-type=aes-256-cbc" in host.file("/etc/pgbackrest.conf").content_string


def test_a_first_full_backup_was_taken_and_left_metrics(host):
    assert metric(host, "slipway_backup_last_outcome", "slipway_backup.prom") == 1
    assert metric(host, "slipway_backup_count", "slipway_backup.prom") >= 1


def test_the_restore_brought_back_exactly_the_rows_committed_before_its_target(host):
    """side_effect restored the live cluster to a time between two batches."""
    target = host.file("/root/restore-target").content_string.strip()
    rows = sql(host, "SELECT batch, count(*) FROM restore_probe GROUP BY batch ORDER BY batch")
    print(f"restore.yml to {target} UTC: {rows}")
    assert rows.splitlines() == ["1|700"]
    # The restored cluster is a primary on a new timeline that archives again.
    assert sql(host, "SELECT pg_is_in_recovery()") == "f"
    assert sql(host, "SELECT timeline_id FROM pg_control_checkpoint()") != "1"
    assert host.run("runuser -u postgres -- pgbackrest --stanza=main check").rc == 0


def test_point_in_time_restore_holds_exactly_the_rows_committed_before_the_target(host):
    sql(host, "CREATE TABLE pitr (id int PRIMARY KEY, batch int NOT NULL)")
    sql(host, "INSERT INTO pitr SELECT g, 1 FROM generate_series(1, 1000) g")
    backup = host.run("slipway-pgbackrest backup --type incr")
    assert backup.rc == 0, backup.stdout
    sql(host, "INSERT INTO pitr SELECT g, 2 FROM generate_series(1001, 1500) g")
    time.sleep(1.5)
    target = sql(
        host, "SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')"
    )
    time.sleep(1.5)
    sql(host, "INSERT INTO pitr SELECT g, 3 FROM generate_series(1501, 1800) g")
    sql(host, "SELECT pg_switch_wal()")

    drill = host.run(f"slipway-pgbackrest drill --target-time '{target}+00:00' --keep")
    print(drill.stdout)
    assert drill.rc == 0, drill.stdout
    copy = f"-h {DRILL_SOCKET} -p 5499"
    rows = sql(
        host,
        "SELECT batch, count(*), min(id), max(id) FROM pitr GROUP BY batch ORDER BY batch",
        extra=copy,
    )
    print(f"restored to {target} UTC: {rows}")
    assert rows.splitlines() == ["1|1000|1|1000", "2|500|1001|1500"]


def test_a_target_time_in_the_future_or_before_the_oldest_backup_is_refused(host):
    future = host.run("slipway-pgbackrest drill --target-time '2999-01-01 00:00:00+00'")
    assert future.rc == 1
    assert "is in the future" in future.stdout
    past = host.run("slipway-pgbackrest drill --target-time '2001-01-01 00:00:00+00'")
    assert past.rc == 1
    assert "is before the oldest backup can restore to" in past.stdout


def test_the_drill_passes_from_its_timer_unit_and_writes_its_metrics(host):
    sql(host, "INSERT INTO pitr SELECT g, 4 FROM generate_series(1801, 2000) g")
    before = time.time()
    run = host.run("systemctl start slipway-restore-drill.service")
    log = host.check_output("journalctl -u slipway-restore-drill.service --no-pager -n 20")
    print(log)
    assert run.rc == 0, log
    assert "restore drill passed" in log
    assert metric(host, "slipway_restore_drill_success", "slipway_restore_drill.prom") == 1
    assert metric(host, "slipway_restore_drill_mismatches", "slipway_restore_drill.prom") == 0
    rows = int(
        sql(host, "SELECT (SELECT count(*) FROM pitr) + (SELECT count(*) FROM restore_probe)")
    )
    assert metric(host, "slipway_restore_drill_rows_checked", "slipway_restore_drill.prom") == rows
    assert (
        metric(
            host,
            "slipway_restore_drill_last_success_timestamp_seconds",
            "slipway_restore_drill.prom",
        )
        >= before - 5
    )
    assert metric(host, "slipway_restore_drill_duration_seconds", "slipway_restore_drill.prom") > 0
    assert (
        metric(host, "slipway_restore_drill_backup_age_seconds", "slipway_restore_drill.prom") > 0
    )
    assert not host.file("/var/lib/postgresql/slipway-drill").exists


def test_verify_passes_on_an_intact_repository(host):
    result = host.run("systemctl start slipway-backup-verify.service")
    assert result.rc == 0, host.check_output(
        "journalctl -u slipway-backup-verify.service --no-pager -n 30"
    )
    assert metric(host, "slipway_backup_verify_success", "slipway_backup_verify.prom") == 1


@pytest.fixture(scope="module")
def damaged_repository(host):
    """Flip bytes in the middle of the largest file of the newest full backup."""
    label = host.check_output("ls /var/lib/pgbackrest/backup/main | grep -E 'F$' | sort | tail -1")
    files = f"find /var/lib/pgbackrest/backup/main/{label}/pg_data -type f -printf '%s %p\\n'"
    path = host.check_output(f"{files} | sort -n | tail -1").split()[1]
    size = int(host.check_output(f"stat -c %s {path}"))
    host.check_output(
        f"printf 'slipway-was-here' | dd of={path} bs=1 seek={size // 2} conv=notrunc status=none"
    )
    print(f"damaged {path} ({size} bytes) at offset {size // 2}")
    return path


def test_a_damaged_repository_fails_verify_loudly(host, damaged_repository):
    result = host.run("slipway-pgbackrest verify")
    print(result.stdout[-3000:])
    assert result.rc == 1
    assert "VERIFY FAILED" in result.stdout
    assert metric(host, "slipway_backup_verify_success", "slipway_backup_verify.prom") == 0
    assert metric(host, "slipway_backup_verify_problems", "slipway_backup_verify.prom") >= 1


def test_a_damaged_repository_fails_the_drill_and_its_metric_says_so(host, damaged_repository):
    last_success = metric(
        host, "slipway_restore_drill_last_success_timestamp_seconds", "slipway_restore_drill.prom"
    )
    result = host.run("systemctl start slipway-restore-drill.service")
    log = host.check_output("journalctl -u slipway-restore-drill.service --no-pager -n 30")
    print(log[-3000:])
    assert result.rc != 0
    assert "RESTORE DRILL FAILED" in log
    assert metric(host, "slipway_restore_drill_success", "slipway_restore_drill.prom") == 0
    # The last success stays what it was, so "no success for N days" alerts keep counting.
    assert (
        metric(
            host,
            "slipway_restore_drill_last_success_timestamp_seconds",
            "slipway_restore_drill.prom",
        )
        == last_success
    )
