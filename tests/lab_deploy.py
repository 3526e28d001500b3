"""Drive deploy.yml (and its kin) on the lab from the controller, as an operator does.

Shared by the deploy scenario's tests (molecule/deploy) and the deploy
benchmark (tests/bench/deploy_faults.py).
"""

from __future__ import annotations

import importlib
import itertools
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
APP_PORTS = {"app1": 18001, "app2": 18002}
# mon1's Prometheus and Alertmanager, published on the controller.
PROMETHEUS = "http://127.0.0.1:19090"
ALERTMANAGER = "http://127.0.0.1:19093"


def plugin_utils(name: str):
    """A module of the collection's plugin_utils, this checkout's (collections/ links to it)."""
    if str(ROOT / "collections") not in sys.path:
        sys.path.insert(0, str(ROOT / "collections"))
    return importlib.import_module(f"ansible_collections.slipway.ops.plugins.plugin_utils.{name}")


def ansible_env(root: Path = ROOT) -> dict[str, str]:
    """The environment of a run from the checkout at `root` (its ansible.cfg and venv)."""
    env = dict(os.environ)
    env["ANSIBLE_CONFIG"] = str(root / "ansible.cfg")
    env["PATH"] = f"{root / '.venv' / 'bin'}:{env['PATH']}"
    env["ANSIBLE_FORCE_COLOR"] = "false"
    # The audit callback pushes each run's metrics to the inventory's
    # Pushgateway (slipway_audit_pushgateway_url: mon1's) with nothing set here.
    for name in (
        "SLIPWAY_AUDIT_PUSHGATEWAY_URL",
        "ANSIBLE_INVENTORY",
        "ANSIBLE_ROLES_PATH",
        "ANSIBLE_COLLECTIONS_PATH",
        "ANSIBLE_LIBRARY",
    ):
        env.pop(name, None)
    return env


def playbook_args(name: str, release: str | None, *extra: str) -> list[str]:
    args = ["ansible-playbook", name, "-i", "inventories/dev"]
    if release is not None:
        args += ["-e", f"slipway_release={release}"]
    return args + list(extra)


def start_playbook(name: str, release: str | None, *extra: str) -> subprocess.Popen:
    """Start a playbook in its own process group (a test may kill the whole
    controller), its output in a temporary file: read it with finish_playbook()."""
    log = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 - closed by finish_playbook()
    proc = subprocess.Popen(
        playbook_args(name, release, *extra),
        cwd=ROOT,
        env=ansible_env(),
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    proc.log = log  # type: ignore[attr-defined]
    return proc


def finish_playbook(proc: subprocess.Popen, timeout: float = 1800) -> tuple[int, str]:
    rc = proc.wait(timeout=timeout)
    with proc.log:  # type: ignore[attr-defined]
        proc.log.seek(0)  # type: ignore[attr-defined]
        return rc, proc.log.read()  # type: ignore[attr-defined]


def playbook(
    name: str, release: str | None, *extra: str, root: Path = ROOT
) -> tuple[int, str, float]:
    """Run `ansible-playbook NAME -i inventories/dev [-e slipway_release=R] EXTRA` from the
    checkout at `root` (this one unless a benchmark compares another)."""
    args = playbook_args(name, release, *extra)
    started = time.monotonic()
    done = subprocess.run(
        args,
        cwd=root,
        env=ansible_env(root),
        capture_output=True,
        text=True,
        timeout=1800,
    )
    return done.returncode, done.stdout + done.stderr, time.monotonic() - started


def measured_playbook(
    name: str, release: str | None, logs: Path, log: str, *extra: str, root: Path = ROOT
) -> tuple[int, str, float, float]:
    """playbook(), its output kept in `logs`/<log>.log (profile_tasks' timings in it);
    (rc, output, wall seconds, the controller's CPU seconds: ansible-playbook and its forks)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    rc, out, seconds = playbook(name, release, *extra, root=root)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    logs.mkdir(parents=True, exist_ok=True)
    (logs / f"{log}.log").write_text(out)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return rc, out, seconds, cpu


def deploy(release: str, *extra: str) -> tuple[int, str, float]:
    return playbook("deploy.yml", release, *extra)


def ansible_module(hosts: str, module: str, args: str) -> dict[str, dict]:
    """Run one ad-hoc module on lab hosts; {host: result} (raises if any host fails)."""
    done = subprocess.run(
        ["ansible", hosts, "-i", "inventories/dev", "-m", module, "-a", args, "-o"],
        cwd=ROOT,
        env=ansible_env(),
        capture_output=True,
        text=True,
    )
    results = {}
    for line in done.stdout.splitlines():
        found = re.match(r"^(\S+) \| (\w+)[^{]*(\{.*\})\s*$", line)
        if found:
            results[found[1]] = {"status": found[2], **json.loads(found[3])}
    if done.returncode != 0 or not results:
        raise RuntimeError(f"ansible {hosts} -m {module} -a {args!r}: {done.stdout[-2000:]}")
    return results


def ansible_shell(hosts: str, command: str) -> str:
    """Run one shell command on lab hosts at once (forks); raises if any host fails."""
    done = subprocess.run(
        ["ansible", hosts, "-i", "inventories/dev", "-m", "ansible.builtin.shell", "-a", command],
        cwd=ROOT,
        env=ansible_env(),
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise RuntimeError(f"ansible {hosts} -m shell -a {command!r}: {done.stdout[-2000:]}")
    return done.stdout


def ledgers() -> dict[str, dict]:
    found = ansible_module("app", "slipway.ops.release", "action=query")
    return {host: result["ledger"] for host, result in found.items()}


def running_releases(ports: dict[str, int] = APP_PORTS) -> dict[str, str]:
    """What each app host's API says it runs (/version on its published port, `ports`)."""
    releases = {}
    for host, port in ports.items():
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/version", timeout=10) as reply:
                releases[host] = json.load(reply)["release"]
        except OSError as exc:
            releases[host] = f"down ({exc})"
    return releases


RESTORED = re.compile(r"healthy\s+([0-9.]+) s and in rotation,\s+([0-9.]+) s after the failure")


def restored_after(output: str) -> list[float]:
    """Per failed host: seconds from failure detected to healthy on its previous release."""
    return [float(healthy) for healthy, _ in RESTORED.findall(output)]


# The messages of roll_host.yml, wrapped anywhere by the callback.
OUT_OF_ROTATION = re.compile(
    r"(\w+)\s+is\s+on\s+\S+\s+and\s+in\s+rotation,\s+([0-9.]+)\s+s\s+after\s+it\s+left\s+rotation"
)
STEP_TIME = re.compile(
    r"(\w+)\s+is\s+on\s+\S+\s+and\s+in\s+rotation,\s+[0-9.]+\s+s\s+after\s+it\s+left\s+rotation"
    r"\s+\(([0-9.]+)\s+s\s+after\s+its\s+step\s+started\)"
)


def out_of_rotation(output: str) -> dict[str, float]:
    """Per host the run moved: seconds from leaving rotation to back in it (roll_host.yml)."""
    return {host: float(seconds) for host, seconds in OUT_OF_ROTATION.findall(output)}


def step_time(output: str) -> dict[str, float]:
    """Per host the run moved: seconds from its step's start to back in rotation (roll_host.yml)."""
    return {host: float(seconds) for host, seconds in STEP_TIME.findall(output)}


def in_rotation_after(output: str) -> list[float]:
    """Per failed host: seconds from failure detected to back in the load balancers' rotation."""
    return [float(rotation) for _, rotation in RESTORED.findall(output)]


# canary_look.yml's line, wrapped anywhere by the callback.
CANARY = re.compile(
    r"(\w+)\s+as\s+the\s+canary,\s+(\d+)\s+s\s+after\s+it\s+took\s+traffic:\s+(\w+)"
)


def canary_looks(output: str) -> list[tuple[str, int, str]]:
    """Each look of the canary judge: (host, seconds since it took traffic, verdict)."""
    return [(host, int(seconds), verdict) for host, seconds, verdict in CANARY.findall(output)]


# The same line whole: a YAML single-quoted item of the callback's msg list.
CANARY_LINE = re.compile(r"'(\w+\s+as\s+the\s+canary,.*?)(?<!')'(?!')\s*\n", re.S)


def canary_look_lines(output: str) -> list[str]:
    """Each look's line as the run printed it (its figures, or why it could not judge)."""
    return [" ".join(line.split()).replace("''", "'") for line in CANARY_LINE.findall(output)]


# On real traffic, or on the run's own requests (a quiet fleet).
WATCH = re.compile(
    r"the\s+watch\s+on\s+(the\s+fleet|\w+(?:,\s+\w+)*),\s+\d+\s+s\s+of\s+"
    r"(?:real\s+traffic|the\s+run\S*\s+own\s+requests)[^:]*:\s+(\w+)"
)
DEPLOY_METRICS = ROOT / ".cache" / "audit" / "metrics" / "slipway_playbook_deploy.prom"


def watches(output: str) -> list[tuple[str, str]]:
    """Each watch on real traffic: (the hosts of its batch, "app3, app4", or "the fleet",
    its verdict)."""
    return [(" ".join(what.split()), verdict) for what, verdict in WATCH.findall(output)]


def analysis_verdicts() -> dict[tuple[str, str], str]:
    """The last deploy run's verdicts on real traffic, from its metrics:
    {(kind, subject): verdict}."""
    found = re.findall(
        r'^slipway_deploy_analysis_verdict\{kind="(\w+)",subject="([^"]+)",verdict="(\w+)"\} 1$',
        DEPLOY_METRICS.read_text(),
        re.MULTILINE,
    )
    return {(kind, subject): verdict for kind, subject, verdict in found}


# profile_tasks prints, before each task, the previous task's duration.
TASK_TIMING = re.compile(
    r"^TASK \[(?P<task>[^\]]+)\].*\n[^\n]*\((?P<h>\d+):(?P<m>\d\d):(?P<s>[\d.]+)\)", re.MULTILINE
)


def rescue_timeline(output: str) -> str:
    """Each task of the rescues with its seconds: where a rollback spent its time."""
    tasks = [(m["task"], int(m["h"]) * 3600 + int(m["m"]) * 60 + float(m["s"]))
             for m in TASK_TIMING.finditer(output)]  # fmt: skip
    # Pair each task with the duration printed under the next one.
    lines = [f"{seconds:6.2f} s  {task}" for (task, _), (_, seconds) in itertools.pairwise(tasks)]
    start = next((i for i, line in enumerate(lines) if "Name the trigger" in line), len(lines))
    return "\n".join(lines[start:])


RECAP_LINE = re.compile(r" -+ [0-9.]+s\s*$")


def slowest_tasks(output: str, count: int = 15) -> str:
    """profile_tasks' recap, the slowest first: where a run spent its time (a slow run on a
    busy machine shows it in every task, a slow step in a few)."""
    recap = output.partition("TASKS RECAP")[2].splitlines()
    return "\n".join(line for line in recap[3 : 3 + count] if RECAP_LINE.search(line))


def ready_after(output: str) -> list[float]:
    """Per gated host: seconds from the release started to the gate's first pass (gate.yml)."""
    return [float(s) for s in re.findall(r": ready after ([0-9.]+) s, soaked", output)]


def get_json(url: str) -> dict | list:
    """GET one of the lab URLs above (http only, never a caller's)."""
    with urllib.request.urlopen(url, timeout=10) as reply:  # noqa: S310
        return json.load(reply)


def prometheus_values(query: str) -> list[tuple[dict, float]]:
    """(labels, value) of each series of an instant query to the lab's Prometheus."""
    found = get_json(f"{PROMETHEUS}/api/v1/query?" + urllib.parse.urlencode({"query": query}))
    return [(s["metric"], float(s["value"][1])) for s in found["data"]["result"]]


def active_alerts(name: str) -> list[dict]:
    """The labels of each active alert of that name in the lab's Alertmanager."""
    query = urllib.parse.urlencode({"filter": f'alertname="{name}"', "active": "true"})
    return [alert["labels"] for alert in get_json(f"{ALERTMANAGER}/api/v2/alerts?{query}")]


# ---- the end state an operator relies on ----------------------------------
LBS = ("lb1",)
LAB_PREFIX = "slipway-lab-"
AUDIT_INDEX = ROOT / ".cache" / "audit" / "deploys.jsonl"
# The run's title (_deploy_settings.settle): "Deploy <id> of release X",
# "Reconcile <id> (site.yml)".
RUN_ID = re.compile(
    r"(?:Deploy|Rollback) ((?:deploy|rollback)-[A-Za-z0-9_.:-]+|[A-Za-z0-9_.:-]+) of release"
    r"|Reconcile (reconcile-[A-Za-z0-9_.:-]+) \(site\.yml\)"
)


def lab_exec(host: str, *command: str, check: bool = True) -> str:
    """Run a command inside a lab host's container (the lab's own Docker Engine)."""
    done = subprocess.run(
        ["docker", "exec", LAB_PREFIX + host, *command], capture_output=True, text=True
    )
    if check and done.returncode != 0:
        raise RuntimeError(f"{host}: {' '.join(command)}: {done.stdout}{done.stderr}")
    return done.stdout


def rotation_at(lb: str) -> list[dict]:
    """The live rotation of one load balancer's balancer, per app host (drained,
    weight, in_flight), from its control location."""
    answer = lab_exec(lb, "curl", "-sS", "http://127.0.0.1:8081/slipway/rotation")
    return json.loads(answer)["backends"]


def lb_requests(lb: str, since: float) -> list[dict]:
    """The requests a load balancer logged (its JSON access log) that ended at or
    after `since` (epoch seconds; the log's time has whole seconds)."""
    lines = lab_exec(lb, "tail", "-n", "20000", "/var/log/nginx/access.log").splitlines()
    records = [json.loads(line) for line in lines if line.startswith("{")]
    return [r for r in records if datetime.fromisoformat(r["time"]).timestamp() >= int(since)]


def drained_at_lbs() -> dict[str, list[str]]:
    """Per load balancer, the app hosts its balancer holds out of rotation (drained)."""
    return {lb: sorted(b["name"] for b in rotation_at(lb) if b["drained"]) for lb in LBS}


def weights_at_lbs() -> dict[str, dict[str, int]]:
    """Per load balancer, the reduced weights its balancer gives app hosts in rotation
    ({} when none is reduced)."""
    return {
        lb: {
            b["name"]: b["weight"]
            for b in rotation_at(lb)
            if not b["drained"] and b["weight"] < 100
        }
        for lb in LBS
    }


def lock_state() -> dict:
    """The fleet's deploy lock as the lock host (app1) holds it."""
    return ansible_module("app1", "slipway.ops.release", "action=query")["app1"]["lock"]


def run_id(output: str) -> str:
    """The id of the deploy or rollback in a run's last lines."""
    found = ["".join(groups) for groups in RUN_ID.findall(output)]
    if not found:
        raise AssertionError(f"no deploy id in the output: {output[-1500:]}")
    return found[-1]


def audit_outcome(deploy_id: str) -> dict:
    """The newest outcome the audit callback recorded for that deploy (.cache/audit)."""
    for line in reversed(AUDIT_INDEX.read_text().splitlines()):
        record = json.loads(line)
        if record.get("id") == deploy_id:
            return record
    raise AssertionError(f"{deploy_id} has no outcome in {AUDIT_INDEX}")


def wait_for(predicate, timeout: float, what: str, interval: float = 0.5):
    """Poll predicate() until it returns something true; raise naming `what`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"{what}: not within {timeout} s")


# ---- shared by the deploy scenarios (molecule/deploy, molecule/deploy_exits) ----
GOOD, OLD = "1.1.0", "1.0.0"
IMAGE = "registry:5000/slipway/agent-platform"
# The runs that set a case up or mend it are judged on how they settle, not on
# their soaks: short ones keep the scenarios within their time.
# Setting the fleet up for a case, not judging it: the quiet lab's canary and
# watches go on unjudged instead of sending the run's own requests for a minute.
# A refusal's bound in seconds: it does not wait out the lock's lease (600 s and
# more) and runs no host's step, and a stalled shared machine (CI has run every
# task 3x slower) stays inside it.
AT_ONCE = 180

QUICK = [
    *("-e", "slipway_deploy_canary_soak=5", "-e", "slipway_deploy_soak=0"),
    *("-e", "slipway_deploy_fleet_soak=0", "-e", "slipway_deploy_canary_inconclusive=pass"),
]


def fleet_on(release: str) -> None:
    """Put the whole fleet on `release` with deploy.yml, unless it is there already."""
    if set(running_releases().values()) != {release}:
        rc, out, _ = deploy(release, *QUICK)
        assert rc == 0, out[-3000:]
    assert set(running_releases().values()) == {release}


def assert_settled(output: str, releases: dict, outcome: str, drained: tuple = ()) -> None:
    """The end state an operator relies on: every host's release, every lb's
    upstream, the lock, the newest ledger entries, the audit outcome."""
    assert running_releases() == releases, output[-3000:]
    assert drained_at_lbs() == {"lb1": sorted(drained)}, output[-3000:]
    lock = lock_state()
    assert not lock["active"], lock
    for host, ledger in ledgers().items():
        if host not in drained:
            assert ledger["history"][-1]["outcome"] != "in_progress", (host, ledger["history"][-3:])
    recorded = audit_outcome(run_id(output))
    assert recorded["outcome"] == outcome, recorded


def audit_outcomes(audit_dir: Path) -> list[dict]:
    """The deploy outcomes of an audit log, oldest first, from a log that verifies."""
    verify_log = plugin_utils("_audit_chain").verify_log

    report = verify_log(Path(audit_dir) / "audit.jsonl")
    assert report.ok, report.problems
    return [summary for _hash, summary in report.deploys.values()]


def policy_waits(batches: int, **settings: int) -> int:
    """Seconds a good deploy waits by policy (docs/deploy.md) over `batches` batches (the
    hosts, with serial 1), canary on, with deploy.yml's defaults (_deploy_settings.INPUTS)
    unless a setting is given: each batch's soak, the canary's window, a watch on each
    later batch, and the watch on the fleet at the end (the fleet soak within it)."""
    inputs = plugin_utils("_deploy_settings").INPUTS
    policy = {i.setting: i.default for i in inputs} | settings
    return (
        policy["soak"] * batches
        + policy["canary_window"]
        + policy["watch_window"] * (batches - 1)
        + max(policy["watch_window"], policy["fleet_soak"])
    )


class BootWatch:
    """Poll each app host's own API (its published port) every 0.1 s during a deploy.

    A host's boot-to-ready is the gap between the last answer of the release
    it left and the first time the new release answers /ready: container stop,
    start and the release's boot, without anything the deploy adds around it.
    """

    def __init__(self, release: str, ports: dict[str, int] = APP_PORTS) -> None:
        self.release = release
        self.ports = ports
        self.last_old: dict[str, float] = {}
        self.first_new: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> BootWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _answer(self, port: int) -> str | None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/version", timeout=1) as reply:
                release = json.load(reply)["release"]
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=1):
                return release
        except (OSError, ValueError, KeyError):
            return None

    def _run(self) -> None:
        while not self._stop.is_set():
            for host, port in self.ports.items():
                answer, now = self._answer(port), time.monotonic()
                if answer is not None and answer != self.release and host not in self.first_new:
                    self.last_old[host] = now
                elif answer == self.release:
                    self.first_new.setdefault(host, now)
            time.sleep(0.1)

    def boot_to_ready(self) -> dict[str, float]:
        return {
            host: round(self.first_new[host] - self.last_old[host], 1)
            for host in self.ports
            if host in self.first_new and host in self.last_old
        }
