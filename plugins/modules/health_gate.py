#!/usr/bin/python
# Copyright: Slipway maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""slipway.ops.health_gate: decide whether a freshly started release is healthy."""

from __future__ import annotations

DOCUMENTATION = r"""
module: health_gate
short_description: Wait until a release proves healthy, soak it, and give a verdict with its reason
version_added: 0.1.0
description:
  - Samples every O(checks) URL every O(interval) seconds until all of them pass
    O(consecutive_successes) times in a row (bounded by O(timeout)), then keeps sampling for
    O(soak) seconds, where any failure fails the gate at once.
  - Optionally watches the host's containers through the Docker Engine API over its unix socket
    (O(containers)) for the whole gate. A container that restarts (its restart count grows, its
    start time moves, it exits, is replaced or removed) or turns unhealthy fails the gate with
    trigger C(health_check_failure); memory over O(containers.memory_max_percent) of its limit
    fails it with trigger C(resource_exhaustion).
  - Optionally evaluates a Prometheus instant query against a condition in every sample
    (O(prometheus)), and a p95 latency budget (O(latency_p95_ms), trigger
    C(performance_degradation)) at the end.
  - Read-only. It never changes anything (C(changed) is always false) and runs in check mode too.
  - The verdict, a one-line reason and the trigger are returned; with O(fail=true) a failed
    verdict also fails the task (the data is still returned).
  - Runs on the target with the Python standard library only (no requests, no Docker SDK).
author:
  - Slipway maintainers (@slipway-ops)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: The gate only reads, so it runs the same in check mode.
  diff_mode:
    support: none
  platform:
    platforms: posix
options:
  checks:
    description:
      - HTTP checks; a sample passes when every one of them passes.
      - Redirects are not followed and no proxy is used.
    type: list
    elements: dict
    required: true
    suboptions:
      url:
        description: The http:// or https:// URL to GET.
        type: str
        required: true
      status:
        description: The status codes that pass (one or a list).
        type: list
        elements: int
        default: [200]
      json:
        description:
          - Fields the JSON body must hold, as dotted paths (numbers index lists) to expected
            values; all must match.
          - "C({status: ok}) matches the body C({\"status\": \"ok\"})."
        type: dict
      headers:
        description: Request headers.
        type: dict
        default: {}
      timeout:
        description: Seconds each request may take.
        type: float
        default: 5
  validate_certs:
    description: Verify the TLS certificate of https checks and of O(prometheus.url).
    type: bool
    default: true
  ca_path:
    description: A PEM CA bundle to verify https with, instead of the system's.
    type: path
    default: ''
  interval:
    description: Seconds between the starts of two samples.
    type: float
    default: 1.0
  timeout:
    description:
      - Seconds to wait for O(consecutive_successes) passing samples in a row (the soak comes
        after).
      - The last request may overrun it by its own timeout.
    type: float
    default: 120
  consecutive_successes:
    description: Passing samples in a row needed before the soak starts.
    type: int
    default: 3
  soak:
    description:
      - Seconds to keep sampling after the consecutive successes; any failure inside fails the gate.
    type: float
    default: 0
  latency_p95_ms:
    description:
      - The p95 budget in milliseconds over the requests from the first passing sample on, judged
        at the end of the soak (or after the consecutive successes when O(soak=0)). 0 turns it off.
      - The reason says so when it was judged on fewer than 5 requests.
    type: float
    default: 0
  latency_confirm:
    description:
      - With O(soak) and O(latency_p95_ms), a budget broken at the end of the soak is confirmed
        by a second soak of the same length, judged on its own requests, before the gate fails.
        A slower release stays slow; a stall of a few seconds on its machine does not fail it.
      - The reason names both soaks' figures. Errors and failed checks still fail at once.
    type: bool
    default: false
  containers:
    description:
      - Watch the host's containers through the Docker Engine API. The containers that match
        O(containers.labels) and are not exited when the gate starts are watched to its end.
    type: dict
    suboptions:
      labels:
        description: Labels a container must all carry to be watched.
        type: dict
        required: true
      min_count:
        description: Fewer running matching containers fails the sample.
        type: int
        default: 1
      memory_max_percent:
        description: Memory usage (page cache excluded) over this share of a container's limit fails
          the gate. 0 turns the memory watch off.
        type: float
        default: 90
  docker_socket:
    description: The Docker Engine's unix socket.
    type: path
    default: /var/run/docker.sock
  prometheus:
    description: A Prometheus condition that every sample must meet.
    type: dict
    suboptions:
      url:
        description: The Prometheus server, e.g. C(http://mon1:9090).
        type: str
        required: true
      query:
        description:
          - A PromQL instant query; every series it returns must meet O(prometheus.condition).
        type: str
        required: true
      condition:
        description: An operator (C(<), C(<=), C(>), C(>=), C(==), C(!=)) and a number.
        type: str
        required: true
      empty_ok:
        description: Whether an empty result passes.
        type: bool
        default: false
      timeout:
        description: Seconds each query may take.
        type: float
        default: 5
      trigger:
        description: The trigger a failed condition reports.
        type: str
        default: health_check_failure
        choices: [health_check_failure, performance_degradation, resource_exhaustion]
  fail:
    description: Fail the task when the verdict is C(failed) (the result is returned either way).
    type: bool
    default: true
notes:
  - A gate can take O(timeout) + O(soak) seconds and more; use C(async) for gates longer than the
    connection's patience.
  - Operator guide, docs/health_gate.md.
seealso:
  - name: Docker Engine API
    description: The container list, inspect and stats calls the container watch uses.
    link: https://docs.docker.com/engine/api/
"""

EXAMPLES = r"""
- name: Gate the new release on app readiness, containers and the error rate
  slipway.ops.health_gate:
    checks:
      - url: http://127.0.0.1:8000/ready
        json: {status: ready}
    consecutive_successes: 3
    timeout: 120
    soak: 30
    latency_p95_ms: 500
    containers:
      labels: {com.docker.compose.project: slipway}
    prometheus:
      url: http://mon1:9090
      query: 'sum(rate(slipway_http_requests_total{status=~"5.."}[1m]))'
      condition: '< 0.05'
      empty_ok: true
  register: __release_gate

- name: Gather the verdict without failing (the rescue decides)
  slipway.ops.health_gate:
    checks:
      - url: https://app1.example.com/health
        status: [200, 204]
    ca_path: /etc/ssl/slipway/ca.pem
    fail: false
  register: __release_health
"""

RETURN = r"""
verdict:
  description: C(passed) or C(failed).
  returned: always
  type: str
  sample: failed
reason:
  description: One line saying why, for an operator.
  returned: always
  type: str
  sample: container slipway-api-1 restarted (restart count 0 -> 1) 23 s into the gate
trigger:
  description: >-
    Empty when passed; else C(health_check_failure), C(performance_degradation) or
    C(resource_exhaustion).
  returned: always
  type: str
  sample: health_check_failure
phase_reached:
  description: C(waiting), C(soak) or C(passed).
  returned: always
  type: str
  sample: soak
samples:
  description:
    - Each check of each sample (t in seconds since the start, check C(http), C(containers) or
      C(prometheus), url, status, ok, latency_ms, error). The first 100 and the newest 400.
  returned: always
  type: list
  elements: dict
  sample: [{t: 0.0, check: http, url: "http://127.0.0.1:8000/ready", status: 503, ok: false,
            latency_ms: 4.2, error: '503 {"status": "not ready"}'}]
samples_total:
  description: How many check results there were (samples keeps at most 500).
  returned: always
  type: int
  sample: 38
p50_ms:
  description:
    - Median latency of the requests from the first passing sample on (of all, if none passed).
  returned: always
  type: float
  sample: 12.5
p95_ms:
  description: The 95th percentile (nearest rank) of the same requests.
  returned: always
  type: float
  sample: 48.0
first_success_after:
  description: Seconds until the first passing sample; null if none passed.
  returned: always
  type: float
  sample: 4.1
elapsed:
  description: Seconds the gate took.
  returned: always
  type: float
  sample: 37.2
containers:
  description: The watched containers (empty without O(containers)).
  returned: always
  type: list
  elements: dict
  sample: [{id: 0123456789ab, name: slipway-api-1, restart_count_start: 0, restart_count_end: 1,
            status_end: running, memory_percent_max: 31.4, memory_limit_bytes: 536870912}]
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.slipway.ops.plugins.module_utils._gate_policy import HEALTH, TRIGGERS
from ansible_collections.slipway.ops.plugins.module_utils._gate_runner import evaluate, problems

ARGUMENT_SPEC = {
    "checks": {
        "type": "list",
        "elements": "dict",
        "required": True,
        "options": {
            "url": {"type": "str", "required": True},
            "status": {"type": "list", "elements": "int", "default": [200]},
            "json": {"type": "dict"},
            "headers": {"type": "dict", "default": {}},
            "timeout": {"type": "float", "default": 5},
        },
    },
    "validate_certs": {"type": "bool", "default": True},
    "ca_path": {"type": "path", "default": ""},
    "interval": {"type": "float", "default": 1.0},
    "timeout": {"type": "float", "default": 120},
    "consecutive_successes": {"type": "int", "default": 3},
    "soak": {"type": "float", "default": 0},
    "latency_p95_ms": {"type": "float", "default": 0},
    "latency_confirm": {"type": "bool", "default": False},
    "containers": {
        "type": "dict",
        "options": {
            "labels": {"type": "dict", "required": True},
            "min_count": {"type": "int", "default": 1},
            "memory_max_percent": {"type": "float", "default": 90},
        },
    },
    "docker_socket": {"type": "path", "default": "/var/run/docker.sock"},
    "prometheus": {
        "type": "dict",
        "options": {
            "url": {"type": "str", "required": True},
            "query": {"type": "str", "required": True},
            "condition": {"type": "str", "required": True},
            "empty_ok": {"type": "bool", "default": False},
            "timeout": {"type": "float", "default": 5},
            "trigger": {"type": "str", "default": HEALTH, "choices": list(TRIGGERS)},
        },
    },
    "fail": {"type": "bool", "default": True},
}


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    wrong = problems(module.params)
    if wrong:
        module.fail_json(msg="; ".join(wrong), changed=False)
    result = evaluate(module.params)
    if result["verdict"] == "failed" and module.params["fail"]:
        module.fail_json(msg=f"health gate failed: {result['reason']}", changed=False, **result)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
