"""Pushgateway pushes never hold up a run: real sockets on 127.0.0.1."""

from __future__ import annotations

import time

from ansible_collections.slipway.ops.plugins.plugin_utils._audit_push import (
    Spool,
    group_path,
    push_all,
    put,
)

from tests.conftest import STALL_SLACK


def test_group_paths_quote_their_values():
    path = group_path("slipway_playbook", {"playbook": "site", "instance": "ctl/1"})
    assert path == "/metrics/job/slipway_playbook/instance/ctl%2F1/playbook/site"


def test_a_silent_gateway_costs_at_most_the_timeout(silent_gateway, tmp_path):
    spool = Spool(tmp_path / "spool")
    start = time.monotonic()
    sent, left, error = push_all(silent_gateway, [("/metrics/job/a", "a 1\n")], spool, 1.0)
    elapsed = time.monotonic() - start
    assert elapsed < 1.0 + STALL_SLACK  # not the peer's 30 s
    assert (sent, left) == (0, 1)
    assert "timed out" in error
    assert [entry["body"] for _, entry in spool.pending()] == ["a 1\n"]


def test_an_unreachable_gateway_fails_fast_and_spools(closed_port, tmp_path):
    # Refused at once: the error says so, where a wait would say "timed out".
    error = put(closed_port + "/metrics/job/a", "a 1\n", 2.0)
    assert "refused" in error.lower()


def test_the_spool_is_sent_on_a_later_run_and_keeps_the_newest_per_group(
    silent_gateway, gateway, tmp_path
):
    spool = Spool(tmp_path / "spool")
    push_all(silent_gateway, [("/metrics/job/a", "a 1\n"), ("/metrics/job/b", "b 1\n")], spool, 0.5)
    push_all(silent_gateway, [("/metrics/job/a", "a 2\n")], spool, 0.5)
    assert len(spool.pending()) == 2
    url, received = gateway
    sent, left, error = push_all(url, [], spool, 2.0)
    assert (sent, left, error) == (2, 0, None)
    assert sorted(received) == [("/metrics/job/a", "a 2\n"), ("/metrics/job/b", "b 1\n")]
    assert spool.pending() == []


def test_a_non_http_url_is_refused_without_a_connection():
    assert put("file:///etc/passwd", "", 1.0) == "not an http(s) URL: file:///etc/passwd"
