#!/usr/bin/python
# Copyright: Slipway maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""slipway.ops.nginx_rotation: change which backends a load balancer keeps out of rotation."""

from __future__ import annotations

DOCUMENTATION = r"""
module: nginx_rotation
short_description: Drain or undrain Nginx upstream backends in one step, without a reload
version_added: 0.1.0
description:
  - Writes the drained list (O(drained_file)) and the reduced weights (O(weights_file)), then has
    the load balancer's balancer (C(slipway_rotation.lua), installed by the role
    C(slipway.ops.nginx_tls)) load them through its control location O(control_url), and checks
    that it holds exactly that.
  - Nginx is not reloaded. A reload makes the old workers close every idle keep-alive connection,
    and a client that sends its next request on one at that moment sees the connection drop.
  - If the balancer cannot be reached or does not hold the change, both files are put back as
    they were and the module fails with RV(failure=control).
  - With O(wait_in_flight), it returns only once the newly drained backends hold no request in
    flight; after O(timeout) seconds it fails with RV(failure=in_flight), naming them.
  - Nothing changes when the drained list and the weights are the ones asked for.
  - The role C(slipway.ops.nginx_tls) calls it from C(tasks_from) C(drain.yml) and C(undrain.yml).
author: Slipway maintainers (@slipway-ops)
attributes:
  check_mode:
    description: Reports whether the list would change, with a diff, and writes nothing.
    support: full
  diff_mode:
    description: The drained list (and the reduced weights) before and after.
    support: full
options:
  drained:
    description: The backends (inventory names) out of rotation after the change.
    type: list
    elements: str
    required: true
  drained_file:
    description: The JSON list of drained backends the role keeps on the load balancer.
    type: path
    required: true
  weights:
    description:
      - The backends in rotation at a reduced weight (a canary's), each as a percentage of a full
        backend's (1-99); a backend not named has its full weight.
    type: dict
    default: {}
  weights_file:
    description: The JSON object of reduced weights the role keeps on the load balancer.
    type: path
    required: true
  control_url:
    description: The balancer's control location (GET shows its state, POST loads the files).
    type: str
    default: http://127.0.0.1:8081/slipway/rotation
  wait_in_flight:
    description: Wait until the newly drained backends hold no request in flight (a drain).
    type: bool
    default: false
  timeout:
    description: Seconds to wait for those requests before failing.
    type: int
    default: 120
"""

EXAMPLES = r"""
- name: Take app2 out of rotation and wait for its requests in flight
  slipway.ops.nginx_rotation:
    drained: [app2]
    drained_file: /var/lib/slipway/nginx_tls/drained.json
    weights_file: /var/lib/slipway/nginx_tls/weights.json
    control_url: http://127.0.0.1:8081/slipway/rotation
    wait_in_flight: true
    timeout: 120
"""

RETURN = r"""
drained:
  description: The drained backends after the change.
  returned: always
  type: list
  elements: str
  sample: [app2]
weights:
  description: The reduced weights after the change.
  returned: always
  type: dict
  sample: {app1: 25}
previous:
  description: The drained backends before it.
  returned: always
  type: list
  elements: str
  sample: []
waited:
  description: Seconds spent waiting for the requests in flight.
  returned: always
  type: float
  sample: 0.4
in_flight:
  description: On RV(failure=in_flight), the requests each drained backend still held.
  returned: always
  type: dict
  sample: {app2: 1}
failure:
  description: On failure, the step that failed, V(control) or V(in_flight).
  returned: failure
  type: str
"""

import json
from pathlib import Path

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.urls import open_url
from ansible_collections.slipway.ops.plugins.module_utils._nginx_rotation import (
    RotationFailed,
    apply,
)

ARGUMENT_SPEC = {
    "drained": {"type": "list", "elements": "str", "required": True},
    "drained_file": {"type": "path", "required": True},
    "weights": {"type": "dict", "default": {}},
    "weights_file": {"type": "path", "required": True},
    "control_url": {"type": "str", "default": "http://127.0.0.1:8081/slipway/rotation"},
    "wait_in_flight": {"type": "bool", "default": False},
    "timeout": {"type": "int", "default": 120},
}


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    p = module.params

    def control(load):
        response = open_url(p["control_url"], method="POST" if load else "GET", timeout=10)
        return json.loads(response.read())

    try:
        result = apply(
            drained=p["drained"],
            drained_file=Path(p["drained_file"]),
            weights={str(k): int(v) for k, v in p["weights"].items()},
            weights_file=Path(p["weights_file"]),
            wait_in_flight=p["wait_in_flight"],
            timeout=p["timeout"],
            check_mode=module.check_mode,
            control=control,
        )
    except RotationFailed as err:
        module.fail_json(
            msg=str(err),
            failure=err.failure,
            in_flight=err.in_flight,
            changed=err.failure != "control",
        )
    if not module._diff:
        result.pop("diff", None)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
