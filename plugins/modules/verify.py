#!/usr/bin/python
# Copyright: Slipway maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: verify
short_description: Run Slipway's deployment verification suite against the platform
version_added: "0.1.0"
description:
  - Runs up to ten checks against the agent platform's API (a host's own API in host
    scope, the load balancer in fleet scope) and returns one record per check, a summary
    and a verdict. The task fails when a check whose severity is in O(fail_on) fails.
  - "The checks, their default severity and the lowest level that selects them:
    health (critical, basic), service_availability (critical, basic),
    database_connectivity (critical, basic), api_endpoints (critical, standard),
    performance_baseline (high, standard), rollback_capability (high, standard),
    monitoring (medium, standard), security_posture (high, strict),
    external_integrations (medium, strict), backup_freshness (medium, strict).
    See docs/verify.md."
  - The suite only reads, except C(api_endpoints), which creates a toolbox agent named
    C(slipway-verify-<8 hex>), one task on it (and a golden task when O(golden_release)
    is set) and deletes the agent at the end, whatever happened. These are the suite's own
    test records, so the module always reports C(changed=false).
  - Standard library only (urllib, http.client, ssl, socket), so it runs on any target host
    with Python 3.8 or newer.
author: Slipway maintainers (@slipway-ops)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Runs every read-only check; C(api_endpoints) is reported skipped, "not run
      in check mode", since it writes.
  diff_mode:
    support: none
  idempotent:
    description: When run twice in a row with the same arguments, the second run reports no change.
    support: full
    details: Nothing the operator owns is changed; the test agent is deleted.
  platform:
    platforms: posix
options:
  base_url:
    description: The platform's base URL.
    type: str
    default: http://127.0.0.1:8000
  server_name:
    description:
      - The TLS server name (SNI, certificate check) and Host header, when O(base_url)
        is C(https://<address>). Empty uses the host of O(base_url).
    type: str
    default: ''
  validate_certs:
    description: Verify the server's certificate chain and name.
    type: bool
    default: true
  ca_path:
    description: CA bundle file (or directory) to trust; empty uses the system's.
    type: path
    default: ''
  api_key:
    description:
      - The platform API key (sent as C(X-API-Key)) for C(api_endpoints). Without it
        that check fails.
    type: str
    default: ''
  validation_level:
    description: Which checks run; each level adds to the one before.
    type: str
    choices: [basic, standard, strict]
    default: standard
  scope:
    description: Recorded in the result; C(fleet) when O(base_url) is the load balancer.
    type: str
    choices: [host, fleet]
    default: host
  checks:
    description: Check names to run, instead of the level's selection.
    type: list
    elements: str
    default: []
  skip:
    description: Check names reported as skipped, "skipped by request".
    type: list
    elements: str
    default: []
  fail_on:
    description: Severities whose failed checks fail the task.
    type: list
    elements: str
    choices: [critical, high, medium, low, info]
    default: [critical]
  severities:
    description: Severity overrides, check name to severity.
    type: dict
    default: {}
  timeout:
    description: Seconds for each HTTP request or connection.
    type: float
    default: 10
  expected_release:
    description: When set, C(health) requires /version to report this release.
    type: str
    default: ''
  task_timeout:
    description: Seconds C(api_endpoints) waits for its task to complete.
    type: float
    default: 30
  golden_release:
    description:
      - When set, C(api_endpoints) also runs C(POST /v1/golden) for this release, which
        only a worker of that release can complete, and it runs at every O(validation_level)
        (the deploy's gate of the workers, which serve no HTTP traffic).
    type: str
    default: ''
  golden_timeout:
    description: Seconds the golden task may take.
    type: float
    default: 30
  performance:
    description: C(performance_baseline) settings.
    type: dict
    default: {}
    suboptions:
      requests: {description: Requests to send., type: int, default: 50}
      concurrency: {description: Requests in flight at once., type: int, default: 4}
      path: {description: Path requested., type: str, default: /health}
      p95_ms:
        description:
          - Budget for the 95th percentile latency (ms).
          - Broken when more requests are over it than chance allows (docs/verify.md).
        type: float
        default: 500
      error_rate:
        description: Budget for the share of failed requests (0..1).
        type: float
        default: 0.01
      confirm:
        description:
          - A p95 budget broken by latency alone is measured again with a second sample of
            as many requests, judged on its own; the check fails only if that one breaks it
            too. A slower release stays slow; a stall of the machine, which every request of
            one short sample shares, does not.
          - Errors over O(performance.error_rate) fail at once.
        type: bool
        default: false
  database:
    description: C(database_connectivity) settings; skipped when O(database.host) is empty.
    type: dict
    default: {}
    suboptions:
      host: {description: PostgreSQL address., type: str, default: ''}
      port: {description: PostgreSQL port., type: int, default: 5432}
  security:
    description: C(security_posture) settings.
    type: dict
    default: {}
    suboptions:
      tls:
        description:
          - C(auto) checks TLS when O(base_url) is https; C(true) requires it; C(false)
            skips the TLS part.
        type: str
        choices: [auto, 'true', 'false']
        default: auto
      required_headers:
        description: Headers every answer must carry.
        type: list
        elements: str
        default: [Strict-Transport-Security, X-Content-Type-Options]
      debug_paths:
        description: Paths that must not answer 2xx.
        type: list
        elements: str
        default: [/docs, /redoc, /openapi.json, /debug, /debug/vars]
      cert_min_days:
        description: The certificate must be valid at least this many more days.
        type: int
        default: 14
  integrations:
    description: External services that must answer (C(external_integrations)).
    type: list
    elements: dict
    default: []
    suboptions:
      name: {description: Name used in the messages., type: str, required: true}
      url: {description: URL to GET., type: str, required: true}
      status:
        description: Acceptable HTTP statuses.
        type: list
        elements: int
        default: [200]
  monitoring:
    description: C(monitoring) settings; skipped when O(monitoring.prometheus_url) is empty.
    type: dict
    default: {}
    suboptions:
      prometheus_url: {description: Prometheus base URL., type: str, default: ''}
      job: {description: The target's job label (empty matches any)., type: str, default: ''}
      instance:
        description: The target's instance label (empty matches any).
        type: str
        default: ''
  rollback:
    description: C(rollback_capability) settings.
    type: dict
    default: {}
    suboptions:
      previous_release:
        description: The release a rollback would go back to.
        type: str
        default: ''
      image: {description: The platform's image repository., type: str, default: ''}
      docker_socket:
        description: The Docker Engine's socket.
        type: path
        default: /var/run/docker.sock
  backup:
    description:
      - C(backup_freshness) settings; skipped when the timestamp is 0 and no metric is named.
    type: dict
    default: {}
    suboptions:
      last_success_timestamp:
        description: When the last backup succeeded (epoch seconds or ISO-8601).
        type: raw
        default: 0
      metric:
        description:
          - A Prometheus metric whose value is the epoch of a successful backup, read at
            O(monitoring.prometheus_url) as C(max(<metric>)) when O(backup.last_success_timestamp)
            is 0 (for example C(slipway_backup_last_success_timestamp_seconds), which
            the postgres_backup role exports).
          - No series at all fails the check (backups are configured and none has reported).
        type: str
        default: ''
      max_age_hours: {description: Oldest acceptable age of that backup., type: float, default: 26}
seealso:
  - name: The verification suite
    description: docs/verify.md in the collection
    link: https://example.invalid/slipway/docs/verify.md
"""

EXAMPLES = r"""
- name: Verify this host's API at the standard level
  slipway.ops.verify:
    base_url: http://127.0.0.1:8000
    api_key: "{{ vault_slipway_api_keys[0] }}"
    expected_release: "{{ slipway_release }}"
    golden_release: "{{ slipway_release }}"
    rollback:
      previous_release: "{{ __deploy_previous_release }}"
      image: 127.0.0.1:15000/slipway/agent-platform

- name: Verify the fleet through the load balancer, every check
  slipway.ops.verify:
    base_url: https://127.0.0.1
    server_name: lb1
    ca_path: /etc/nginx/slipway/tls/server.crt
    scope: fleet
    validation_level: strict
    api_key: "{{ vault_slipway_api_keys[0] }}"
    fail_on: [critical, high]
    skip: [rollback_capability]
  register: verify

- name: Show the failed checks
  ansible.builtin.debug:
    var: verify.failed_checks
"""

RETURN = r"""
results:
  description: One record per selected check, in catalogue order.
  returned: always
  type: list
  elements: dict
  contains:
    test_name: {description: The check's name., type: str, sample: health}
    test_type: {description: The check's type., type: str, sample: health}
    severity:
      description: The check's severity.
      type: str
      choices: [critical, high, medium, low, info]
      sample: critical
    passed: {description: False only when the check failed (a skipped check passes)., type: bool}
    skipped:
      description: The check did not run (not configured, check mode, by request).
      type: bool
    message:
      description: One line for the operator.
      type: str
      sample: "/health 200, release 1.1.0"
    metrics: {description: The figures the check measured., type: dict}
    execution_time: {description: Seconds the check took., type: float, sample: 0.012}
    timestamp:
      description: When it started (ISO-8601 UTC).
      type: str
      sample: "2025-01-01T12:00:00.000Z"
summary:
  description: Counts overall and per severity.
  returned: always
  type: dict
  sample: {total: 7, passed: 6, failed: 0, skipped: 1,
           by_severity: {critical: {passed: 4, failed: 0, skipped: 0}}}
failed_checks:
  description: Names of every failed check, whether or not its severity fails the task.
  returned: always
  type: list
  elements: str
verdict:
  description: C(failed) when a check with a severity in O(fail_on) failed, else C(passed).
  returned: always
  type: str
trigger:
  description:
    - The rollback trigger of a failed verdict, from its first blocking check in catalogue
      order; empty when the verdict is C(passed).
    - C(performance_degradation) for C(performance_baseline), C(security_violation) for
      C(security_posture), C(deployment_failure) for C(rollback_capability), else
      C(health_check_failure).
  returned: always
  type: str
  sample: health_check_failure
validation_level:
  description: The level run.
  returned: always
  type: str
scope:
  description: host or fleet, as given.
  returned: always
  type: str
base_url:
  description: The URL checked.
  returned: always
  type: str
execution_time:
  description: Seconds the whole suite took.
  returned: always
  type: float
msg:
  description: The verdict in one line; on failure each failing check with its reason.
  returned: always
  type: str
  sample: >-
    verification failed: api_endpoints (critical): task ... never completed
    within 30 s: no worker took it
"""

import copy

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.slipway.ops.plugins.module_utils._verify_checks import RUNNERS
from ansible_collections.slipway.ops.plugins.module_utils._verify_options import ARGUMENT_SPEC
from ansible_collections.slipway.ops.plugins.module_utils._verify_suite import run_suite


def main():
    module = AnsibleModule(argument_spec=copy.deepcopy(ARGUMENT_SPEC), supports_check_mode=True)
    try:
        result = run_suite(module.params, RUNNERS, check_mode=module.check_mode)
    except ValueError as error:
        module.fail_json(msg=str(error), changed=False)
    if result["verdict"] == "failed":
        module.fail_json(changed=False, **result)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
