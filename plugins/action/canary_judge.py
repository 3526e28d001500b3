# Copyright: Slipway maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""slipway.ops.canary_judge runs in the controller's worker for its task.

The judge reads only the evidence it is given (or Prometheus) and runs on the controller
anyway: as a module it started a Python interpreter there for every look, which imported
Ansible's module code again (about 0.3 s of CPU a call, tests/bench/task_costs.py). Here the
same code (the module's ARGUMENT_SPEC and verdict) runs in the worker that already has it.
"""

from __future__ import annotations

from ansible.plugins.action import ActionBase
from ansible_collections.slipway.ops.plugins.modules import canary_judge as module


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False
    _VALID_ARGS = frozenset(module.ARGUMENT_SPEC)

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        params = self.validate_argument_spec(argument_spec=module.ARGUMENT_SPEC)[1]
        result["changed"] = False
        try:
            result.update(module.verdict(params))
        except module.Refused as err:
            result.update(err.result, failed=True, msg=str(err))
        return result
