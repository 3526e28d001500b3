#!/usr/bin/python
# Copyright: Slipway maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""slipway.ops.route_traffic: the run's own requests to the platform's real routes."""

from __future__ import annotations

DOCUMENTATION = r"""
module: route_traffic
short_description: Send paced requests to the platform's real routes through a load balancer
version_added: 0.1.0
description:
  - Sends O(rate) requests a second, the O(routes) in turn, over O(connections) kept-alive HTTPS
    connections to O(url) (the load balancer itself), for O(duration) seconds or until
    O(stop_file) exists. Each request carries the User-Agent C(slipway-route-traffic).
  - The deploy runs it on every load balancer, in the background, when an environment is too
    quiet for the canary judge (C(slipway_deploy_canary_inconclusive=traffic), docs/canary.md),
    so that the canary and its baseline serve requests the judge can compare.
  - Requests that change nothing on the platform. Reads (C(GET /path), C(HEAD)), and writes whose
    JSON body names a fresh id, C({id}), that exists nowhere (C(POST /v1/tasks) for an agent that
    does not exist runs the route, its key check and its lookup, and creates nothing).
    C({id}) stands for a fresh id in each request, in the path or the body.
  - The certificate is not verified, since the module talks to the load balancer it runs on,
    by address.
author: Slipway maintainers (@slipway-ops)
attributes:
  check_mode:
    description: Sends nothing in check mode.
    support: full
  diff_mode:
    description: Nothing to show.
    support: none
options:
  url:
    description: Where to send, the load balancer's HTTPS front door as seen from itself.
    type: str
    default: https://127.0.0.1
  server_name:
    description: The Host header (the site's name).
    type: str
    required: true
  routes:
    description:
      - The routes, each C(GET /path), or C(POST /path {json body}) whose body names C({id}).
      - C({id}) is a fresh id per request.
    type: list
    elements: str
    required: true
  rate:
    description: Requests a second, over all connections.
    type: float
    default: 20
  duration:
    description: Seconds to send for at most.
    type: float
    required: true
  connections:
    description: Kept-alive connections to send over.
    type: int
    default: 4
  api_key:
    description: The platform API key, sent as C(X-API-Key) with the writes.
    type: str
    default: ""
  stop_file:
    description: Stop early once this file exists (the deploy writes it once the canary is decided).
    type: path
"""

EXAMPLES = r"""
- name: Send the canary's judge traffic on a quiet fleet, in the background
  slipway.ops.route_traffic:
    server_name: app.example.com
    routes:
      - GET /v1/tasks/{id}
      - 'POST /v1/tasks {"agent_id": "{id}", "input": {}}'
    api_key: "{{ vault_slipway_api_keys[0] }}"
    rate: 20
    duration: 190
    stop_file: /run/slipway-route-traffic.stop
  delegate_to: "{{ lb }}"
  async: 220
  poll: 0
"""

RETURN = r"""
sent:
  description: The requests sent.
  returned: always
  type: int
  sample: 1200
errors:
  description: The requests answered 5xx or not answered (connection error, timeout).
  returned: always
  type: int
  sample: 0
seconds:
  description: How long it sent for.
  returned: always
  type: float
  sample: 60.2
stopped:
  description: Whether the stop file ended it.
  returned: always
  type: bool
by_route:
  description: Per route, the answers by class (C(2xx), C(4xx), C(5xx), C(error)).
  returned: always
  type: dict
  sample: {"GET /v1/tasks/{id}": {"4xx": 600}}
"""

import http.client
import ssl
from pathlib import Path
from urllib.parse import urlsplit

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.slipway.ops.plugins.module_utils._route_traffic import (
    USER_AGENT,
    parse_route,
    send,
)

ARGUMENT_SPEC = {
    "url": {"type": "str", "default": "https://127.0.0.1"},
    "server_name": {"type": "str", "required": True},
    "routes": {"type": "list", "elements": "str", "required": True},
    "rate": {"type": "float", "default": 20},
    "duration": {"type": "float", "required": True},
    "connections": {"type": "int", "default": 4},
    "api_key": {"type": "str", "default": "", "no_log": True},
    "stop_file": {"type": "path"},
}


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    p = module.params
    try:
        for route in p["routes"]:
            parse_route(route)
    except ValueError as err:
        module.fail_json(msg=f"routes: {err}")
    if not p["routes"] or p["rate"] <= 0 or p["duration"] <= 0 or p["connections"] < 1:
        module.fail_json(
            msg="routes must name a route, and rate, duration and connections be positive"
        )
    target = urlsplit(p["url"])
    if target.scheme != "https" or not target.hostname:
        module.fail_json(msg=f"url must be https://host[:port], got {p['url']!r}")
    if module.check_mode:
        module.exit_json(changed=False, sent=0, errors=0, seconds=0.0, stopped=False, by_route={})
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE

    def connect():
        # The Host header names the site; the server is the load balancer's default one.
        return http.client.HTTPSConnection(
            target.hostname, target.port or 443, timeout=10, context=context
        )

    result = send(
        routes=p["routes"],
        rate=p["rate"],
        duration=p["duration"],
        connections=p["connections"],
        connect=connect,
        headers={"Host": p["server_name"], "User-Agent": USER_AGENT},
        write_headers={"X-API-Key": p["api_key"]} if p["api_key"] else {},
        stop_file=Path(p["stop_file"]) if p["stop_file"] else None,
    )
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
