# Copyright: Slipway maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A benchmark's callback: the controller's CPU from each task's start to the next's.

deploy_speed.py --profile enables it (ANSIBLE_CALLBACK_PLUGINS=tests/bench/profile, this
directory holding callbacks only: Ansible imports every file of it). It reads the CPU of
ansible-playbook and of its forks it has reaped (os.times) at each task's start, adds the
difference to the task that ran, and writes {task: {cpu, wall, starts}} as JSON to
$SLIPWAY_TASK_CPU_OUT at the end. A fork is counted when it is reaped, which may be during
the next task: a task's own figure is rough, a playbook file's sum is what to read.
"""

from __future__ import annotations

import json
import os
import time

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
name: task_cpu
type: aggregate
short_description: The controller's CPU a task (a benchmark's, not the collection's)
description:
  - Writes each task's controller CPU and wall seconds to the file in SLIPWAY_TASK_CPU_OUT.
"""


def _cpu() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "task_cpu"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self) -> None:
        super().__init__()
        self.task: str | None = None
        self.cpu0 = self.wall0 = 0.0
        self.tasks: dict[str, dict] = {}

    def _close(self) -> None:
        if self.task is not None:
            row = self.tasks.setdefault(self.task, {"cpu": 0.0, "wall": 0.0, "starts": 0})
            row["cpu"] += _cpu() - self.cpu0
            row["wall"] += time.monotonic() - self.wall0
            row["starts"] += 1

    def v2_playbook_on_task_start(self, task, is_conditional) -> None:
        self._close()
        self.task = f"{task.get_path()} {task.get_name()}"
        self.cpu0, self.wall0 = _cpu(), time.monotonic()

    def v2_playbook_on_handler_task_start(self, task) -> None:
        self.v2_playbook_on_task_start(task, False)

    def v2_playbook_on_stats(self, stats) -> None:
        self._close()
        self.task = None
        out = os.environ.get("SLIPWAY_TASK_CPU_OUT")
        if out:
            with open(out, "w", encoding="utf-8") as f:
                json.dump(self.tasks, f, indent=1)
