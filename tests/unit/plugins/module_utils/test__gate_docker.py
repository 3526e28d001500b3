"""The container watch against this machine's real Docker Engine.

Each test starts its own small containers, labelled with a fresh
slipway.test.gate=<uuid>, and removes them at the end; no other container is
touched (the `containers` fixture in conftest.py).
"""

from __future__ import annotations

import time

import pytest
from ansible_collections.slipway.ops.plugins.module_utils._gate_docker import (
    ContainerWatch,
    Docker,
    DockerError,
    cgroup_memory,
    memory_percent,
    restart_problem,
)
from ansible_collections.slipway.ops.plugins.module_utils._gate_policy import HEALTH, RESOURCES

from tests.unit.plugins.conftest import SOCKET, docker, needs_docker


def checks_until(watch: ContainerWatch, passing, seconds: float = 20.0):
    """Check every 0.2 s until passing(outcome) is false or time is up; the last outcome."""
    deadline = time.monotonic() + seconds
    while True:
        outcome = watch.check()
        if not passing(outcome) or time.monotonic() > deadline:
            return outcome
        time.sleep(0.2)


@needs_docker
def test_a_docker_restart_is_seen_by_its_start_time(containers):
    name = containers.run("restart")
    watch = ContainerWatch(Docker(SOCKET), containers.label)
    watch.start()
    assert [w.start["name"] for w in watch.watched] == [name]
    assert watch.check().ok
    time.sleep(1.1)  # StartedAt has nanoseconds, yet a second apart is beyond doubt
    docker("restart", "--time", "0", name)
    outcome = watch.check()
    assert not outcome.ok
    assert outcome.fatal
    assert outcome.trigger == HEALTH
    assert outcome.error.startswith(f"container {name} restarted (restart count 0 -> 0; started")


@needs_docker
def test_a_restart_policy_restart_is_seen_by_the_restart_count(containers):
    name = containers.run("crash", "--restart", "on-failure:20", command="sleep 2; exit 3")
    watch = ContainerWatch(Docker(SOCKET), containers.label)
    watch.start()
    outcome = checks_until(watch, lambda o: o.ok)
    assert outcome.fatal, outcome.error
    # seen between two lives (exited or restarting) or after it came back (restart count grew)
    assert outcome.error.startswith(
        (
            f"container {name} restarted (restart count 0 -> ",
            f"container {name} is restarting (exit code 3",
            f"container {name} exited (exit code 3",
        )
    ), outcome.error
    report = watch.report()[0]
    assert report["name"] == name
    assert report["restart_count_start"] == 0


@needs_docker
def test_memory_is_read_against_the_limit(containers):
    # 40 MiB held by a python process in a 64 MiB container: about 65 %
    name = containers.run(
        "memory",
        "--memory",
        "64m",
        command="python3 -c 'import time; x = bytearray(40 * 2**20); time.sleep(300)'",
    )
    time.sleep(1.5)
    relaxed = ContainerWatch(Docker(SOCKET), containers.label, memory_max_percent=90)
    relaxed.start()
    assert relaxed.check().ok
    report = relaxed.report()[0]
    assert report["memory_limit_bytes"] == 64 * 2**20
    assert 55 < report["memory_percent_max"] < 90

    strict = ContainerWatch(Docker(SOCKET), containers.label, memory_max_percent=50)
    strict.start()
    outcome = strict.check()
    assert (outcome.ok, outcome.fatal, outcome.trigger) == (False, True, RESOURCES)
    assert outcome.error.startswith(f"container {name} uses ")
    assert outcome.error.endswith("% of its 64 MiB memory limit (over 50%)")


@needs_docker
def test_a_removed_container_vanishes_and_too_few_running_is_a_plain_failure(containers):
    name = containers.run("gone")
    watch = ContainerWatch(Docker(SOCKET), containers.label, min_count=2)
    watch.start()
    short = watch.check()
    assert (short.ok, short.fatal) == (False, False)
    assert short.error == (
        f"1 running container labelled slipway.test.gate={containers.label['slipway.test.gate']}, "
        "want at least 2"
    )
    docker("rm", "--force", name)
    outcome = watch.check()
    assert outcome.fatal
    assert outcome.error.startswith(f"container {name} vanished (id ")
    assert watch.report()[0]["status_end"] == "gone"


@needs_docker
def test_containers_exited_before_the_gate_are_not_watched(containers):
    containers.run("oneoff", command="true")
    running = containers.run("api")
    time.sleep(1)
    watch = ContainerWatch(Docker(SOCKET), containers.label)
    watch.start()
    assert [w.start["name"] for w in watch.watched] == [running]
    assert watch.check().ok


def test_an_absent_socket_is_said(tmp_path):
    with pytest.raises(DockerError, match=r"cannot reach the Docker Engine at .*nothing\.sock"):
        Docker(str(tmp_path / "nothing.sock")).containers({"a": "b"})


def test_memory_excludes_the_page_cache_on_both_cgroup_versions():
    v1 = {"memory_stats": {"usage": 60, "limit": 100, "stats": {"total_inactive_file": 20}}}
    v2 = {"memory_stats": {"usage": 60, "limit": 100, "stats": {"inactive_file": 30}}}
    assert memory_percent(v1) == (40.0, 100)
    assert memory_percent(v2) == (30.0, 100)
    assert memory_percent({"memory_stats": {}}) is None


def test_restart_problems_in_words():
    before = {
        "id": "a" * 64,
        "name": "slipway-api-1",
        "restart_count": 0,
        "started_at": "2025-01-01T00:00:00.1Z",
        "status": "running",
        "exit_code": 0,
        "health": "healthy",
        "health_log": "",
    }
    assert restart_problem(before, before) == ""
    assert restart_problem(before, {**before, "restart_count": 1}) == (
        "container slipway-api-1 restarted (restart count 0 -> 1)"
    )
    assert restart_problem(before, None, "b" * 64) == (
        "container slipway-api-1 was replaced (id aaaaaaaaaaaa -> bbbbbbbbbbbb)"
    )
    unhealthy = {**before, "health": "unhealthy", "health_log": "GET /health: 500\n"}
    assert restart_problem(before, unhealthy) == (
        "container slipway-api-1 is unhealthy: GET /health: 500"
    )


def _tree(root, files: dict[str, str]) -> None:
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)


def test_the_cgroup_is_read_when_the_engine_has_no_stats_v1_and_v2(tmp_path):
    # The same files the kernel shows, laid out under tmp_path.
    _tree(
        tmp_path,
        {
            "proc/meminfo": "MemTotal:       1024 kB\n",
            "proc/7/cgroup": "9:memory:/docker/abc\n1:name=systemd:/docker/abc\n",
            "cg/memory/docker/abc/memory.usage_in_bytes": "600\n",
            "cg/memory/docker/abc/memory.limit_in_bytes": "1000\n",
            "cg/memory/docker/abc/memory.stat": "cache 300\ntotal_inactive_file 100\n",
            "proc/8/cgroup": "0::/system.slice/docker-abc.scope\n",
            "cg2/system.slice/docker-abc.scope/memory.current": "700\n",
            "cg2/system.slice/docker-abc.scope/memory.max": "max\n",
            "cg2/system.slice/docker-abc.scope/memory.stat": "anon 500\ninactive_file 188\n",
        },
    )
    v1 = cgroup_memory(7, str(tmp_path / "proc"), str(tmp_path / "cg"))
    assert memory_percent({"memory_stats": v1}) == (50.0, 1000)
    v2 = cgroup_memory(8, str(tmp_path / "proc"), str(tmp_path / "cg2"))
    assert v2["limit"] == 1024 * 1024  # no limit: the host's memory
    assert memory_percent({"memory_stats": v2})[0] == pytest.approx(512 / 1024 / 1024 * 100)
    assert cgroup_memory(9, str(tmp_path / "proc"), str(tmp_path / "cg")) == {}
