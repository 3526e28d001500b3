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
  - One change at a time on a load balancer - the hosts of a batch change their rotation at once.
    A lock file beside O(drained_file) (C(drained.json.lock)) is held from reading the files to the
    balancer's answer, not while requests drain.
  - Given O(backend) and O(state) instead of O(drained), it works the change out from the load
    balancer's own files (O(backends_file), O(drained_file), O(weights_file)) and refuses, with
    nothing changed, a backend the load balancer does not know or a drain that leaves no backend
    in rotation; before putting a drained backend back it asks it for O(ready_path) from the load
    balancer. One call, one round trip to the load balancer, for what a deploy does per host.
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
    description:
      - The backends (inventory names) out of rotation after the change.
      - Exactly one of O(drained) and O(backend) is given.
    type: list
    elements: str
  backend:
    description: The one backend to take out of rotation or to put back (O(state)).
    type: str
  state:
    description:
      - With O(backend), V(drained) takes it out of rotation, V(in_rotation) puts it back at
        O(weight).
    type: str
    choices: [drained, in_rotation]
  weight:
    description: With O(state=in_rotation), its weight, a percentage of a full backend's (1-100).
    type: int
    default: 100
  backends_file:
    description:
      - The role's record of the load balancer's backends (names, addresses, ports); needed
        with O(backend).
    type: path
  force:
    description: With O(state=drained), drain it even when no other backend stays in rotation.
    type: bool
    default: false
  ready_path:
    description:
      - With O(state=in_rotation), a drained backend must answer 200 on this path, asked from
        the load balancer, before it is put back; empty asks nothing.
    type: str
    default: ""
  ready_timeout:
    description: Seconds to wait for that answer (a try every 2 s, each of up to 5 s).
    type: int
    default: 60
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
  fixes:
    description:
      - How to fix each RV(failure), in the caller's terms (its variables), added to the
        module's own message, which says what failed and what it left.
      - Keys are the values of RV(failure); a failure with no key gets the module's message alone.
    type: dict
    default: {}
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

- name: Put app2 back at a quarter of a full backend's weight, once it answers /ready
  slipway.ops.nginx_rotation:
    backend: app2
    state: in_rotation
    weight: 25
    backends_file: /var/lib/slipway/nginx_tls/backends.json
    drained_file: /var/lib/slipway/nginx_tls/drained.json
    weights_file: /var/lib/slipway/nginx_tls/weights.json
    ready_path: /ready
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
  description:
    - On failure, why; V(control) or V(in_flight) after the change was tried; with O(backend),
      before any change, V(unconverged) (no O(backends_file)), V(unknown) (not one of its
      backends), V(last) (no backend would stay in rotation) or V(not_ready) (it did not answer
      O(ready_path)).
  returned: failure
  type: str
ready_after:
  description: With O(ready_path), the seconds the backend took to answer it with 200.
  returned: when the backend was asked
  type: float
  sample: 0.3
backends:
  description: With O(backend), the load balancer's backends (their names), from O(backends_file).
  returned: when O(backends_file) was read
  type: list
  elements: str
  sample: [app1, app2]
"""

import json
from pathlib import Path
from urllib.error import HTTPError

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.urls import open_url
from ansible_collections.slipway.ops.plugins.module_utils._nginx_rotation import (
    RotationFailed,
    backend_url,
    change,
    locked,
    plan,
    read_json,
    wait_out,
    wait_ready,
)

ARGUMENT_SPEC = {
    "drained": {"type": "list", "elements": "str"},
    "backend": {"type": "str"},
    "state": {"type": "str", "choices": ["drained", "in_rotation"]},
    "weight": {"type": "int", "default": 100},
    "backends_file": {"type": "path"},
    "force": {"type": "bool", "default": False},
    "ready_path": {"type": "str", "default": ""},
    "ready_timeout": {"type": "int", "default": 60},
    "drained_file": {"type": "path", "required": True},
    "weights": {"type": "dict", "default": {}},
    "weights_file": {"type": "path", "required": True},
    "control_url": {"type": "str", "default": "http://127.0.0.1:8081/slipway/rotation"},
    "wait_in_flight": {"type": "bool", "default": False},
    "timeout": {"type": "int", "default": 120},
    "fixes": {"type": "dict", "default": {}},
}

# What each failure means and leaves, in the module's terms; `fixes` adds the caller's.
WHAT = {
    "unconverged": (
        "This load balancer has no {backends_file}: nothing records its backends. "
        "Nothing was changed."
    ),
    "unknown": (
        "{subject} is not a backend of this load balancer (its backends: {backends}). "
        "Nothing was changed."
    ),
    "last": (
        "Draining {subject} would leave no backend in rotation (drained already: {previous}). "
        "Nothing was changed."
    ),
    "not_ready": (
        "{subject} did not answer {ready_path} with 200 from this load balancer within "
        "{ready_timeout} s ({detail}). It stays out of rotation; nothing was changed."
    ),
    "in_flight": (
        "{subject} still held requests after {timeout} s: {in_flight}. It is out of rotation."
    ),
    "control": (
        "Could not change {subject} on this load balancer: {detail}. "
        "The state files were put back and Nginx serves as before."
    ),
}


def _fail(module, err: RotationFailed, **result):
    """Fail with the failure's meaning, its detail and the caller's fix."""
    p = module.params
    facts = {
        **p,
        "subject": p["backend"] if p["drained"] is None else ", ".join(p["drained"]) or "none",
        "backends": ", ".join(result.get("backends", [])) or "none",
        "previous": ", ".join(result.get("previous", [])) or "none",
        "in_flight": err.in_flight,
        "detail": str(err),
    }
    what = WHAT.get(err.failure, "{detail}").format(**facts)
    fix = str(p["fixes"].get(err.failure, "")).strip()
    module.fail_json(msg=f"{what} {fix}".strip(), failure=err.failure, **result)


def _status(url):
    try:
        return open_url(url, method="GET", timeout=5).getcode()
    except HTTPError as err:
        return err.code


def _ready(module, p) -> dict:
    """Before a drained backend goes back: it answers ready_path, asked the way Nginx asks
    it (outside the lock: a host slow to answer holds no other change back)."""
    if p["drained"] is not None or p["state"] != "in_rotation" or not p["ready_path"]:
        return {}
    recorded = read_json(Path(p["backends_file"]), None)
    if p["backend"] not in read_json(Path(p["drained_file"]), []) or recorded is None:
        return {}
    try:
        url = backend_url(recorded, p["backend"], p["ready_path"])
        return {"ready_after": wait_ready(url, p["ready_timeout"], _status)}
    except RotationFailed as err:
        _fail(module, err, changed=False)


def _target(module, p):
    """The drained list and weights asked for: as given, or worked out for one backend
    from the balancer's files as they are now (under the lock)."""
    if p["drained"] is not None:
        return p["drained"], {str(k): int(v) for k, v in p["weights"].items()}, {}
    recorded = read_json(Path(p["backends_file"]), None)
    drained_now = sorted(read_json(Path(p["drained_file"]), []))
    known = {
        "backends": [b["name"] for b in (recorded or {}).get("backends", [])],
        "previous": drained_now,
    }
    try:
        drained, weights = plan(
            backend=p["backend"],
            state=p["state"],
            weight=p["weight"],
            force=p["force"],
            recorded=recorded,
            drained_now=drained_now,
            weights_now=read_json(Path(p["weights_file"]), {}),
        )
    except RotationFailed as err:
        _fail(module, err, changed=False, **known)
    return drained, weights, known


def main():
    module = AnsibleModule(
        argument_spec=ARGUMENT_SPEC,
        supports_check_mode=True,
        required_one_of=[("drained", "backend")],
        mutually_exclusive=[("drained", "backend")],
        required_by={"backend": ("backends_file", "state")},
    )
    p = module.params
    if p["backend"] is not None and not 1 <= p["weight"] <= 100:
        module.fail_json(msg=f"weight must be a percentage, 1-100, got {p['weight']}")
    ready = _ready(module, p)
    known: dict = {}

    def control(load):
        response = open_url(p["control_url"], method="POST" if load else "GET", timeout=10)
        return json.loads(response.read())

    try:
        with locked(Path(p["drained_file"]), module.check_mode):
            drained, weights, known = _target(module, p)
            result, answer = change(
                drained=drained,
                drained_file=Path(p["drained_file"]),
                weights=weights,
                weights_file=Path(p["weights_file"]),
                check_mode=module.check_mode,
                control=control,
            )
        if p["wait_in_flight"] and answer is not None:
            result = wait_out(result, answer, timeout=p["timeout"], control=control)
    except RotationFailed as err:
        _fail(
            module,
            err,
            in_flight=err.in_flight,
            changed=err.failure != "control",
            **known,
            **ready,
        )
    if not module._diff:
        result.pop("diff", None)
    # The change's result has the last word: it read the files under the lock.
    module.exit_json(**{**known, **ready, **result})


if __name__ == "__main__":
    main()
