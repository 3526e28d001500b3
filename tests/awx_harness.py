"""Run a playbook the way AWX runs a job: ansible-runner with the input directory AWX writes.

What AWX (awx/main/tasks/jobs.py, RunJob) puts there, and this does too:
- env/extravars: the job's extra vars, survey answers tagged !unsafe (AWX
  marks every survey answer unsafe, so Jinja in an answer stays text), and
  the awx_* and tower_* job metadata (awx_job_id, awx_user_name, ...);
- env/envvars: JOB_ID, INVENTORY_ID, PROJECT_REVISION, AWX_HOST, and what the
  job's credentials inject (Slipway deploy secrets: SLIPWAY_AUDIT_DIR ...);
- env/settings: AWX's runner settings; the job runs from the project's
  directory (its ansible.cfg applies), with runner's awx_display as the
  stdout callback, and its events land in artifacts/<id>/job_events.
The one difference: the inventory is the project's directory, as an SCM
inventory source imports it, not the JSON AWX renders from its database.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import ansible_runner
import yaml

ROOT = Path(__file__).resolve().parents[1]


class Unsafe(str):
    """A value AWX marks unsafe (a survey answer): written as `!unsafe`."""


class _Dumper(yaml.SafeDumper):
    """AWX's extravars writer: Unsafe values tagged !unsafe (PyYAML's own dumper untouched)."""


def _unsafe(dumper, value):
    return dumper.represent_scalar("!unsafe", str(value))


_Dumper.add_representer(Unsafe, _unsafe)


@dataclass
class Job:
    id: int
    template: str
    user: str = "alice"
    launch_type: str = "manual"

    def meta(self) -> dict:
        """The awx_* job variables (and their tower_* twins), as AWX passes them."""
        meta = {
            "job_id": self.id,
            "job_launch_type": self.launch_type,
            "job_template_id": 7,
            "job_template_name": self.template,
            "user_id": 3,
            "user_name": self.user,
            "user_email": f"{self.user}@example.com",
            "user_first_name": self.user.capitalize(),
            "user_last_name": "",
            "inventory_id": 2,
            "inventory_name": "Slipway development",
            "project_revision": "0" * 40,
            "project_scm_branch": "main",
            "execution_node": "awx-ee",
            "host": "https://awx.example.com",
        }
        return {f"{prefix}_{k}": v for prefix in ("awx", "tower") for k, v in meta.items()}


@dataclass
class Result:
    status: str
    rc: int
    events: list[dict]
    stdout: str


def run_job(
    workdir: Path,
    job: Job,
    playbook: str,
    *,
    survey: dict | None = None,
    extra_vars: dict | None = None,
    injected_env: dict | None = None,
    timeout: int = 1800,
) -> Result:
    """Lay out AWX's input directory under workdir and run the job through ansible-runner."""
    private = workdir / f"job-{job.id}"
    (private / "env").mkdir(parents=True)
    extravars = {**(extra_vars or {}), **job.meta()}
    extravars.update({name: Unsafe(value) for name, value in (survey or {}).items()})
    (private / "env" / "extravars").write_text(yaml.dump(extravars, Dumper=_Dumper))
    envvars = {
        "JOB_ID": str(job.id),
        "INVENTORY_ID": "2",
        "PROJECT_REVISION": "0" * 40,
        "AWX_HOST": "https://awx.example.com",
        "ANSIBLE_FORCE_COLOR": "False",
        "ANSIBLE_HOST_KEY_CHECKING": "False",
        "ANSIBLE_RETRY_FILES_ENABLED": "False",
        "PATH": f"{ROOT / '.venv' / 'bin'}:{os.environ['PATH']}",
        **(injected_env or {}),
    }
    (private / "env" / "envvars").write_text(yaml.safe_dump(envvars))
    (private / "env" / "settings").write_text(
        yaml.safe_dump({"job_timeout": timeout, "suppress_ansible_output": True})
    )
    runner = ansible_runner.run(
        private_data_dir=str(private),
        project_dir=str(ROOT),
        playbook=playbook,
        inventory=str(ROOT / "inventories" / "dev"),
        ident=str(job.id),
        quiet=True,
    )
    events = list(runner.events)
    stdout = runner.stdout.read() if runner.stdout else ""
    return Result(runner.status, runner.rc, events, stdout)


def set_stats_of(events: list[dict]) -> list[dict]:
    """Every slipway_deploy the job reported (set_stats results in its events)."""
    reported = []
    for event in events:
        res = (event.get("event_data") or {}).get("res") or {}
        data = ((res.get("ansible_stats") or {}).get("data") or {}).get("slipway_deploy")
        if event.get("event") == "runner_on_ok" and data:
            reported.append(data)
    return reported


def task_results(events: list[dict], task: str) -> list[dict]:
    return [
        (event.get("event_data") or {}).get("res") or {}
        for event in events
        if event.get("event") == "runner_on_ok"
        and (event.get("event_data") or {}).get("task") == task
    ]
