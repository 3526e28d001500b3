#!/usr/bin/python
# Copyright: Slipway maintainers
# Apache License 2.0 (see galaxy.yml)
"""slipway.ops.nginx_rotation: change which backends a load balancer keeps out of rotation."""

from __future__ import annotations

DOCUMENTATION = r"""
module: nginx_rotation
short_description: Drain or undrain Nginx upstream backends in one step
version_added: 0.1.0
description:
  - Writes the drained list (O(drained_file)) and the upstream configuration that marks those
    backends C(down) (O(upstream_content), rendered by the caller), checks the whole Nginx
    configuration with C(nginx -t), and reloads Nginx gracefully.
  - A configuration that does not parse is rolled back (both files as they were) and Nginx is not
    reloaded; the module fails with RV(failure=config).
  - With O(wait_in_flight), it returns only once the workers that served before the reload have
    exited, so every request that was in flight has finished; after O(timeout) seconds it fails
    with RV(failure=in_flight).
  - Nothing changes when the drained list is the one asked for.
  - The role C(slipway.ops.nginx_tls) calls it from C(tasks_from) C(drain.yml) and C(undrain.yml).
author: Slipway maintainers
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
  upstream_file:
    description: The upstream configuration file Nginx includes.
    type: path
    required: true
  upstream_content:
    description: The upstream configuration for O(drained), rendered by the caller.
    type: str
    required: true
  weights:
    description:
      - The backends in rotation at a reduced weight (a canary's), each as a percentage of a full
        backend's (1-99); a backend not named has its full weight.
    type: dict
    default: {}
  weights_file:
    description:
      - The JSON object of reduced weights the role keeps on the load balancer. Without it,
        O(weights) is not kept and a change of weight alone changes nothing.
    type: path
  wait_in_flight:
    description: Wait for the workers that served before the reload to exit (a drain).
    type: bool
    default: false
  timeout:
    description: Seconds to wait for those workers before failing.
    type: int
    default: 120
  pid_file:
    description: The Nginx master's pid file.
    type: path
    default: /run/nginx.pid
  nginx:
    description: The Nginx binary that checks the configuration.
    type: path
    default: /usr/sbin/nginx
"""

EXAMPLES = r"""
- name: Take app2 out of rotation and wait for its requests in flight
  slipway.ops.nginx_rotation:
    drained: [app2]
    drained_file: /var/lib/slipway/nginx_tls/drained.json
    upstream_file: /etc/nginx/slipway/upstream.conf
    upstream_content: "{{ lookup('ansible.builtin.template', 'upstream.conf.j2') }}"
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
workers:
  description: The worker processes waited for (still running, on RV(failure=in_flight)).
  returned: always
  type: list
  elements: int
failure:
  description: On failure, the step that failed, V(config), V(reload) or V(in_flight).
  returned: failure
  type: str
"""

from pathlib import Path

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.slipway.ops.plugins.module_utils._nginx_rotation import (
    RotationFailed,
    apply,
)

ARGUMENT_SPEC = {
    "drained": {"type": "list", "elements": "str", "required": True},
    "drained_file": {"type": "path", "required": True},
    "upstream_file": {"type": "path", "required": True},
    "upstream_content": {"type": "str", "required": True},
    "weights": {"type": "dict", "default": {}},
    "weights_file": {"type": "path"},
    "wait_in_flight": {"type": "bool", "default": False},
    "timeout": {"type": "int", "default": 120},
    "pid_file": {"type": "path", "default": "/run/nginx.pid"},
    "nginx": {"type": "path", "default": "/usr/sbin/nginx"},
}


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    p = module.params

    def run(argv):
        return module.run_command(argv)

    try:
        result = apply(
            drained=p["drained"],
            drained_file=Path(p["drained_file"]),
            upstream_file=Path(p["upstream_file"]),
            upstream_content=p["upstream_content"],
            wait_in_flight=p["wait_in_flight"],
            timeout=p["timeout"],
            pid_file=Path(p["pid_file"]),
            check_mode=module.check_mode,
            run=run,
            nginx=p["nginx"],
            weights={str(k): int(v) for k, v in p["weights"].items()},
            weights_file=Path(p["weights_file"]) if p["weights_file"] else None,
        )
    except RotationFailed as err:
        module.fail_json(msg=str(err), failure=err.failure, changed=err.failure != "config")
    if not module._diff:
        result.pop("diff", None)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
