"""slipway.ops.health_gate end to end: the module's arguments to its verdict, with real servers.

Most tests run the module in this process (AnsibleModule reads the arguments
patch_module_args hands it); one runs it through `ansible localhost -m`.
"""

from __future__ import annotations

import json
import re
import subprocess
import threading
import time

import pytest
from ansible.module_utils.testing import patch_module_args
from ansible_collections.slipway.ops.plugins.modules import health_gate

from tests.conftest import STALL_SLACK, ansible_env, run
from tests.unit.plugins.conftest import SOCKET, needs_docker

FAST = {"interval": 0.1, "consecutive_successes": 2}


def gate(capsys, **args) -> dict:
    """Run the module; its JSON result."""
    with patch_module_args(args), pytest.raises(SystemExit):
        health_gate.main()
    return json.loads(capsys.readouterr().out)


def test_a_target_that_becomes_ready_passes_in_check_mode_too(target, capsys):
    target.script((503, '{"problems": ["redis"]}'), (503, "{}"), (200, '{"status": "ok"}'))
    args = {"checks": [{"url": target.url(), "json": {"status": "ok"}}], **FAST}
    result = gate(capsys, **args, _ansible_check_mode=True)
    assert result["changed"] is False
    assert "failed" not in result
    assert result["verdict"] == "passed"
    assert result["phase_reached"] == "passed"
    assert result["first_success_after"] >= 0.2
    assert [s["status"] for s in result["samples"]] == [503, 503, 200, 200]
    assert result["containers"] == []


def test_a_target_that_dies_in_the_soak_fails_the_task_with_its_data(target, capsys):
    # Ready after 2 samples, then 2 more in the soak, then gone: the death comes at a
    # point of the gate's own sequence (a timer started beside it was overtaken on a
    # loaded machine: CI saw the target die before the gate was ready, phase waiting).
    target.die(after_hits=4)
    result = gate(capsys, checks=[{"url": target.url()}], soak=20, **FAST)
    assert result["failed"] is True
    assert result["changed"] is False
    assert result["verdict"] == "failed"
    assert result["trigger"] == "health_check_failure"
    assert result["phase_reached"] == "soak"
    # refused, or reset when the request was in the listen queue as the socket closed
    assert result["reason"].endswith(
        (f"soak: {target.url()}: connection refused", "connection reset by the server")
    )
    assert result["msg"] == "health gate failed: " + result["reason"]
    # Every sample passed until the death (a 5th may still be answered while the
    # listener shuts down), and none after it.
    oks = [s["ok"] for s in result["samples"]]
    died = oks.index(False)
    assert died >= 4, oks
    assert not any(oks[died:]), oks
    # It failed on the death, not at the end of the 20 s soak.
    assert result["elapsed"] < 10


def test_a_target_that_never_gets_ready_times_out_quoting_its_answer(target, capsys):
    target.script((503, '{"problems": ["schema behind: run migration 0002"]}'))
    result = gate(capsys, checks=[{"url": target.url()}], timeout=1, fail=False, **FAST)
    assert "failed" not in result
    assert result["verdict"] == "failed"
    assert result["reason"] == (
        f"{target.url()} never passed 2 times in a row within 1 s: "
        'last 503 {"problems": ["schema behind: run migration 0002"]}'
    )
    # It stops at the timeout, not before, and does not poll on past it.
    assert 0.9 < result["elapsed"] < 1 + STALL_SLACK


def test_a_slow_target_breaks_the_latency_budget(target, capsys):
    target.script((200, "{}", 0.15))
    result = gate(
        capsys, checks=[{"url": target.url()}], latency_p95_ms=100, soak=0.5, fail=False, **FAST
    )
    assert result["trigger"] == "performance_degradation"
    assert result["p95_ms"] >= 150
    # The figure is whatever this machine measured (205 and 247 ms were seen on a
    # busy one): the phrase quotes the result's own p95, not a fixed number.
    said = re.fullmatch(
        r"p95 (\d+) ms over the 100 ms budget: (\d+) of \2 requests slower, "
        r"more than chance allows \(p = [0-9.e-]+\)",
        result["reason"],
    )
    assert said, result["reason"]
    # The same p95: the phrase rounds it to the ms, p95_ms to a tenth (151 and 151.5 seen).
    assert abs(int(said[1]) - result["p95_ms"]) <= 0.55


def test_bad_input_names_the_option(capsys):
    result = gate(capsys, checks=[{"url": "127.0.0.1:8000/ready"}], interval=0)
    assert result["failed"] is True
    assert result["msg"] == (
        "checks[0].url '127.0.0.1:8000/ready': want an http:// or https:// URL; "
        "interval: want more than 0 seconds"
    )


def test_a_bad_prometheus_condition_is_refused_before_sampling(target, capsys):
    result = gate(
        capsys,
        checks=[{"url": target.url()}],
        prometheus={"url": target.url(""), "query": "up", "condition": "below 1"},
    )
    assert result["failed"] is True
    assert "prometheus.condition 'below 1'" in result["msg"]
    assert target.hits == []


def test_no_docker_socket_fails_the_gate_saying_so(target, capsys, tmp_path):
    result = gate(
        capsys,
        checks=[{"url": target.url()}],
        containers={"labels": {"com.docker.compose.project": "slipway"}},
        docker_socket=str(tmp_path / "docker.sock"),
        fail=False,
    )
    assert result["verdict"] == "failed"
    assert result["reason"].startswith("cannot start the container watch: cannot reach the Docker")


@needs_docker
def test_a_container_restarted_during_the_gate_fails_it(target, capsys, containers):
    name = containers.run("api")

    def restart_later():
        time.sleep(1.5)
        subprocess.run(["docker", "restart", "--time", "0", name], check=True, capture_output=True)

    restarter = threading.Thread(target=restart_later)
    restarter.start()
    result = gate(
        capsys,
        checks=[{"url": target.url()}],
        containers={"labels": containers.label},
        docker_socket=SOCKET,
        soak=20,
        fail=False,
        **FAST,
    )
    restarter.join()
    assert result["verdict"] == "failed"
    assert result["trigger"] == "health_check_failure"
    # Caught mid-restart (killed, not started again yet) or after it.
    caught = (f"container {name} exited (exit code 137", f"container {name} restarted (restart")
    assert result["reason"].startswith(caught), result["reason"]
    assert result["reason"].endswith((" 1 s into the gate", " 2 s into the gate"))
    assert result["containers"][0]["name"] == name
    assert result["containers"][0]["memory_percent_max"] is not None


@pytest.mark.controller
def test_the_module_runs_through_ansible(target, tmp_path):
    target.script((503, "{}"), (200, '{"status": "ok", "release": "1.1.0"}'))
    args = {
        "checks": [{"url": target.url(), "json": {"status": "ok", "release": "1.1.0"}}],
        **FAST,
    }
    done = run(
        ["ansible", "localhost", "-m", "slipway.ops.health_gate", "-a", json.dumps(args), "-o"],
        env=ansible_env(ANSIBLE_LOCAL_TEMP=str(tmp_path)),
        timeout=120,
    )
    assert done.returncode == 0, done.stdout
    assert '"verdict": "passed"' in done.stdout
    assert '"changed": false' in done.stdout


def test_a_broken_budget_is_confirmed_by_a_second_soak_before_the_gate_fails(target, capsys):
    target.script((200, "{}", 0.15))
    result = gate(
        capsys,
        checks=[{"url": target.url()}],
        latency_p95_ms=100,
        soak=0.5,
        latency_confirm=True,
        fail=False,
        **FAST,
    )
    assert result["trigger"] == "performance_degradation"
    assert ", confirmed by a second 0.5 s soak (the first: p95 " in result["reason"]
