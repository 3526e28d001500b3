"""The backup tool's pure parts: metrics, target times, verify's output, drill comparisons."""

from __future__ import annotations

import datetime as dt
import importlib.util

import pytest

from tests.conftest import ROOT

SPEC = importlib.util.spec_from_file_location(
    "slipway_pgbackrest", ROOT / "roles/postgres_backup/files/slipway_pgbackrest.py"
)
tool = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(tool)

NOW = dt.datetime(2026, 11, 23, 2, 30, tzinfo=dt.timezone.utc)


def backup(label: str, stop: dt.datetime) -> dict:
    stamp = int(stop.timestamp())
    return {"label": label, "timestamp": {"start": stamp - 60, "stop": stamp}, "info": {"size": 10}}


BACKUPS = [
    backup("20261122-010000F", dt.datetime(2026, 11, 22, 1, 1, tzinfo=dt.timezone.utc)),
    backup(
        "20261122-010000F_20261122-130000I",
        dt.datetime(2026, 11, 22, 13, 1, tzinfo=dt.timezone.utc),
    ),
]


def test_metrics_are_prometheus_text_with_help_and_type_once():
    text = tool.render_metrics(
        [
            ("slipway_backup_last_outcome", "gauge", "Outcome.", {"type": "full"}, 1),
            ("slipway_backup_last_outcome", "gauge", "Outcome.", {"type": "incr"}, 0),
            ("slipway_backup_count", "gauge", "Count.", {}, 2.5),
        ]
    )
    assert text.count("# HELP slipway_backup_last_outcome") == 1
    assert 'slipway_backup_last_outcome{type="full"} 1\n' in text
    assert 'slipway_backup_last_outcome{type="incr"} 0\n' in text
    assert "slipway_backup_count 2.5\n" in text


def test_label_values_are_escaped():
    text = tool.render_metrics([("m", "gauge", "h", {"stanza": 'a"b\\c'}, 1)])
    assert 'm{stanza="a\\"b\\\\c"} 1' in text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-22 12:00:00+00", dt.datetime(2026, 11, 22, 12, tzinfo=dt.timezone.utc)),
        ("2026-11-22T12:00:00Z", dt.datetime(2026, 11, 22, 12, tzinfo=dt.timezone.utc)),
        ("2026-11-22 14:00:00+02:00", dt.datetime(2026, 11, 22, 12, tzinfo=dt.timezone.utc)),
        ("2026-11-22 12:00:00", dt.datetime(2026, 11, 22, 12, tzinfo=dt.timezone.utc)),
    ],
)
def test_target_times_are_read_as_utc_unless_they_name_a_zone(text, expected):
    assert tool.parse_target_time(text, now=NOW) == expected


def test_a_target_time_in_the_future_is_refused():
    with pytest.raises(ValueError, match="is in the future"):
        tool.parse_target_time("2026-11-23 03:00:00+00", now=NOW)


def test_a_target_that_is_no_time_says_what_to_give():
    with pytest.raises(ValueError, match="give ISO 8601"):
        tool.parse_target_time("yesterday", now=NOW)


def test_a_target_before_the_oldest_backup_is_refused():
    with pytest.raises(ValueError, match="before the oldest backup can restore to"):
        tool.check_target_in_range(dt.datetime(2026, 11, 21, tzinfo=dt.timezone.utc), BACKUPS)


def test_a_target_with_no_backup_is_refused():
    with pytest.raises(ValueError, match="holds no backup"):
        tool.check_target_in_range(NOW, [])


def test_the_restore_starts_from_the_newest_backup_before_the_target():
    base = tool.check_target_in_range(
        dt.datetime(2026, 11, 22, 12, tzinfo=dt.timezone.utc), BACKUPS
    )
    assert base["label"] == "20261122-010000F"
    assert tool.check_target_in_range(NOW, BACKUPS)["label"].endswith("I")


def test_backups_are_sorted_oldest_first():
    info = [{"backup": list(reversed(BACKUPS))}]
    assert [b["label"] for b in tool.backups_of(info)] == [b["label"] for b in BACKUPS]
    assert tool.backups_of([]) == []


# What pgbackrest 2.45 verify printed for a repository with one damaged file
# (it exited 0).
DAMAGED = """\
P01   INFO: invalid checksum '20261123-021829F/pg_data/base/16386/2838.zst'
P00   INFO: stanza: main
                                    status: error
                 backup: 20261123-021829F, status: invalid, total files checked: 1259
                                        checksum invalid: 1
P00   INFO: verify command end: completed successfully (1215ms)
"""


def test_verify_output_with_a_damaged_file_is_a_failure():
    problems = tool.verify_failures(DAMAGED)
    assert any("2838.zst" in line for line in problems)
    assert "status: error" in problems
    assert "checksum invalid: 1" in problems


def test_verify_output_of_an_intact_repository_is_clean():
    clean = "P00   INFO: verify command end: completed successfully (980ms)\n"
    assert tool.verify_failures(clean) == []
    assert tool.verify_failures("missing: 0, checksum invalid: 0, size invalid: 0, other: 0") == []


def test_the_drill_names_each_difference_from_the_source():
    source = {"platform": {"public.a": [3, "x"], "public.b": [2, "y"], "public.c": [1, "z"]}}
    copy = {"platform": {"public.a": [3, "x"], "public.b": [2, "other"], "public.d": [0, "0"]}}
    assert tool.compare_snapshots(source, copy) == [
        "platform.public.b: 2 rows but their checksum differs",
        "platform.public.c: missing from the restored copy",
        "platform.public.d: in the restored copy but not on the source",
    ]
    assert tool.compare_snapshots(source, source) == []


def test_the_scratch_instance_listens_on_no_address_and_never_archives():
    cfg = {"drill": {"port": 5499, "dir": "/var/lib/postgresql/slipway-drill"}}
    text = tool.scratch_config(cfg, {"max_connections": "200"})
    assert "listen_addresses = ''" in text
    assert "archive_mode = off" in text
    assert "max_connections = 200" in text
