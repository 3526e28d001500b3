#!/usr/bin/python
# Copyright: Slipway maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""slipway.ops.lb_traffic: what a load balancer's backends served over a window."""

from __future__ import annotations

DOCUMENTATION = r"""
module: lb_traffic
short_description: Read what each backend served, per route class, from an Nginx access log
version_added: 0.1.0
description:
  - Reads the load balancer's JSON access log (the C(slipway_json) format of the role
    C(slipway.ops.nginx_tls)) for the requests that ended within [O(start), O(end)), and returns,
    per backend and route class, every answered request's upstream time and the number of errors.
    The canary judge (C(slipway.ops.canary_judge)) compares a canary's with its baseline's.
  - An error is a 5xx from the upstream, an upstream error or timeout (502, 504), or a request
    the client gave up on (499). A request retried on another backend counts against the one
    that failed it. The probes and the paths outside C(/v1/) are left out (docs/canary.md).
  - The log is read backwards from its end, so a large log costs only the window.
  - Runs on the load balancer (its log is local there). Reads only; changes nothing.
author: Slipway maintainers (@slipway-ops)
attributes:
  check_mode:
    description: Reads the log in check mode too; it changes nothing either way.
    support: full
  diff_mode:
    description: Nothing to show.
    support: none
options:
  access_log:
    description: The access log to read.
    type: path
    default: /var/log/nginx/access.log
  upstreams:
    description:
      - The backends' addresses as Nginx logs them (C(10.242.0.21:8000)), each to its host.
      - One of O(upstreams) and O(backends_file) is required.
    type: dict
  backends_file:
    description:
      - The backends the role C(slipway.ops.nginx_tls) recorded on the load balancer
        (C(/var/lib/slipway/nginx_tls/backends.json)); each backend's address and port to its name.
    type: path
  start:
    description: The window's start, in seconds since the epoch.
    type: float
    required: true
  end:
    description: The window's end, in seconds since the epoch.
    type: float
    required: true
  own:
    description:
      - Count the run's own requests too (a User-Agent that starts with C(slipway-) -
        C(slipway.ops.route_traffic)'s, the health gate's, C(slipway.ops.verify)'s).
      - V(false) - real traffic only, what a baseline or a judgment on real traffic needs.
      - V(true) - for a judgment on the run's own requests on a quiet fleet.
    type: bool
    default: false
  wait:
    description:
      - Wait on the load balancer until O(end) has passed by its clock, the one that stamps the
        log, before reading, so that the window is whole when it is read. Never longer than
        O(end) - O(start) seconds.
      - V(false) - read at once (a window that has closed already).
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: Read what the backends served during the canary's window
  slipway.ops.lb_traffic:
    backends_file: /var/lib/slipway/nginx_tls/backends.json
    start: "{{ __canary_start }}"
    end: "{{ __canary_end }}"
    wait: true
  delegate_to: "{{ lb }}"
  loop: "{{ groups['lb'] }}"
  loop_control: {loop_var: lb}
  register: __canary_traffic
"""

RETURN = r"""
traffic:
  description:
    - Per host, per route class, C(latencies) (ms, one per answered request), C(times) (when each
      of them ended, in whole milliseconds since the epoch, in the same order) and C(errors).
    - C(latencies) and C(times) are each one string of numbers apart by spaces, not lists - the
      controller copies a list element by element for every task that touches it, and a busy
      window holds tens of thousands of requests.
  returned: always
  type: dict
  sample:
    app1: {reads: {latencies: "12 15", times: "1765000000215 1765000001870", errors: 0}}
    app2: {}
requests:
  description: The requests per host in the window.
  returned: always
  type: dict
  sample: {app1: 2, app2: 0}
"""

import json
import os
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.slipway.ops.plugins.module_utils._canary_evidence import LbLogSource

ARGUMENT_SPEC = {
    "access_log": {"type": "path", "default": "/var/log/nginx/access.log"},
    "upstreams": {"type": "dict"},
    "backends_file": {"type": "path"},
    "start": {"type": "float", "required": True},
    "end": {"type": "float", "required": True},
    "own": {"type": "bool", "default": False},
    "wait": {"type": "bool", "default": False},
}


def recorded(path: str) -> dict:
    """address:port -> name, from the role's backends.json."""
    with open(path) as handle:
        state = json.load(handle)
    out = {}
    resolved = state.get("resolved", {})
    for backend in state["backends"]:
        # A host name as the converge resolved it: Nginx logs the address.
        address = resolved.get(backend["address"], backend["address"])
        host = f"[{address}]" if ":" in address else address
        out[f"{host}:{backend.get('port', state['default_port'])}"] = backend["name"]
    return out


def main():
    module = AnsibleModule(
        argument_spec=ARGUMENT_SPEC,
        supports_check_mode=True,
        required_one_of=[("upstreams", "backends_file")],
        mutually_exclusive=[("upstreams", "backends_file")],
    )
    p = module.params
    if p["end"] <= p["start"]:
        module.fail_json(msg=f"end ({p['end']}) must be after start ({p['start']})")
    if not os.path.exists(p["access_log"]):
        module.fail_json(
            msg=f"access_log {p['access_log']} does not exist: set the path nginx_tls logs to"
            " (nginx_tls_access_log)"
        )
    if p["backends_file"]:
        try:
            upstreams = recorded(p["backends_file"])
        except (OSError, ValueError, KeyError) as err:
            module.fail_json(
                msg=f"backends_file {p['backends_file']}: {err}; converge the load balancer"
                " (site.yml) so that nginx_tls records its backends"
            )
    else:
        upstreams = {str(addr): str(host) for addr, host in p["upstreams"].items()}
    if p["wait"]:
        time.sleep(max(0.0, min(p["end"] - time.time(), p["end"] - p["start"])))
    traffic = LbLogSource([p["access_log"]], upstreams, own=p["own"]).traffic(p["start"], p["end"])
    module.exit_json(
        changed=False,
        traffic={
            host: {route: t.packed() for route, t in routes.items()}
            for host, routes in traffic.items()
        },
        requests={
            host: sum(t.requests for t in routes.values()) for host, routes in traffic.items()
        },
    )


if __name__ == "__main__":
    main()
