#!/usr/bin/python
# Copyright: Slipway maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""slipway.ops.release: a host's release ledger and the fleet's deploy lock."""

from __future__ import annotations

DOCUMENTATION = r"""
module: release
short_description: Release ledger and deploy lock (a lease) kept on a host
description:
  - Keeps two JSON files in O(path) on the target host. C(ledger.json) records the release the host
    runs (C(current)), the one before it (C(previous)) and a history of deploy and rollback steps.
    C(lock.json) is the fleet's deploy lock, a lease with a holder and an expiry; run the lock
    actions on one host (the lock host) for the whole fleet.
  - Every read-decide-write happens under an exclusive C(flock) on C(<path>/.guard) and every write
    is atomic (temporary file, fsync, rename), so two runs at the same moment cannot both take
    the lock.
  - O(action=lock) takes a free or expired lease, renews one the same O(deploy_id) holds, and fails
    at once, naming the holder, the deploy, the AWX job and the expiry, when another deploy holds a
    live lease. O(force=true) breaks such a lease; every takeover of another deploy's lease is
    appended to C(lock_breaks) in the lock file.
  - O(action=unlock) never releases another deploy's lease; it reports the holder in RV(held_by).
  - O(action=record) appends a history entry and moves C(current)/C(previous) when the host's
    release changed (see docs/release.md for the rules, rollbacks included).
  - Runs on the target with the Python standard library only, on Python 3.8 or newer.
version_added: 0.1.0
author: Slipway maintainers (@slipway-ops)
attributes:
  check_mode:
    support: full
    description: Computes and returns what would happen and writes nothing. A lock held by another
      deploy still fails.
  diff_mode:
    support: full
    description: Shows the lock's holder, deploy, job and expiry, or the ledger's current and
      previous release and newest entry, before and after.
  idempotent:
    support: partial
    description: Recording the same step again changes nothing. Taking or renewing a lease moves
      its expiry, so it always reports a change.
options:
  path:
    description:
      - Directory holding C(ledger.json), C(lock.json) and C(.guard); created with mode 0750 when
        missing (not by O(action=query) or check mode).
    type: path
    default: /var/lib/slipway/release
  action:
    description:
      - V(query) returns the ledger and the lock; V(lock), V(renew) and V(unlock) work the lease;
        V(record) appends a ledger entry.
    type: str
    choices: [query, lock, renew, unlock, record]
    default: query
  deploy_id:
    description: The deploy this run belongs to. Required for every action but V(query).
    type: str
  holder:
    description: Who takes the lock, for example C(alice@controller). Required for V(lock).
    type: str
  job_id:
    description: The AWX job id, empty when the deploy runs outside AWX.
    type: str
    default: ''
  ttl:
    description: Seconds the lease lasts from now (V(lock), V(renew)).
    type: int
    default: 900
  force:
    description:
      - With V(lock), break a live lease held by another deploy. Use only when that deploy is dead.
        The break is recorded in C(lock_breaks) and returned in RV(broken).
    type: bool
    default: false
  release:
    description:
      - The release the V(record) entry is about; for a rollback, the release rolled back to.
    type: str
  stage:
    description: The deploy stage of the V(record) entry.
    type: str
    choices: [validating, testing, deploying, monitoring, completed, failed, rolling_back,
      rolled_back, adopted]
  outcome:
    description:
      - The outcome of the V(record) entry. V(success) at stage V(completed) or V(adopted) makes
        O(release) current. V(rolled_back) means the host is back on O(release). V(refused) means
        the run stopped before the host changed, V(interrupted) a run that never settled, found by
        a later one. The vocabulary is defined once, in C(module_utils/_vocabulary.py).
    type: str
    choices: [in_progress, success, failed, rolled_back, refused, interrupted]
  reason:
    description: Why it failed or was rolled back, in words.
    type: str
    default: ''
  trigger:
    description: What set off a failure or rollback (docs/deploy.md, "Triggers").
    type: str
    choices: [deployment_failure, health_check_failure, performance_degradation,
      security_violation, resource_exhaustion, manual, host_unreachable, '']
    default: ''
  who:
    description: Who ran the step, for the ledger entry.
    type: str
    default: ''
  history_limit:
    description: Newest entries kept in the ledger's history and in the lock's C(lock_breaks).
    type: int
    default: 50
  guard_timeout:
    description: Seconds to wait for another run to let go of C(.guard) before failing.
    type: int
    default: 30
seealso:
  - name: Release ledger and deploy lock
    description: Files, schema, lock semantics, how to see and break the lock.
    link: https://github.com/slipway-ops/slipway/blob/main/docs/release.md
"""

EXAMPLES = r"""
- name: Take the deploy lock for this deploy
  slipway.ops.release:
    action: lock
    deploy_id: "{{ slipway_deploy_id }}"
    holder: "{{ lookup('ansible.builtin.env', 'USER') }}@{{ inventory_hostname }}"
    job_id: "{{ tower_job_id | default('') | string }}"
    ttl: 900
    force: "{{ slipway_deploy_lock_break | default(false) | bool }}"
  run_once: true
  delegate_to: "{{ groups['app'] | first }}"

- name: Record that this host completed the release
  slipway.ops.release:
    action: record
    deploy_id: "{{ slipway_deploy_id }}"
    release: "{{ slipway_release }}"
    stage: completed
    outcome: success
    who: alice

- name: Record that this host went back to the release it ran before
  slipway.ops.release:
    action: record
    deploy_id: "{{ slipway_deploy_id }}"
    release: "{{ __release_before.ledger.current }}"
    stage: rolled_back
    outcome: rolled_back
    trigger: health_check_failure
    reason: /ready failed 3 times on app1

- name: Release the deploy lock
  slipway.ops.release:
    action: unlock
    deploy_id: "{{ slipway_deploy_id }}"
  run_once: true
  delegate_to: "{{ groups['app'] | first }}"

- name: Read the ledger and the lock
  slipway.ops.release:
    action: query
  register: __release_state
"""

RETURN = r"""
ledger:
  description: The ledger after the action.
  returned: always
  type: dict
  contains:
    current:
      description: The release the host runs, null before the first one.
      type: str
    previous:
      description: The release the host ran before current (after a rollback, the one before that).
      type: str
    history:
      description:
        - Entries newest last, each with deploy_id, release, stage, outcome, reason, trigger, who,
          at (ISO-8601 UTC) and, when it moved current, replaced (the release it moved off).
      type: list
      elements: dict
  sample: {"current": "v2", "previous": "v1", "history": []}
open_entry:
  description:
    - The newest history entry of a deploy that never closed (its last entry is V(in_progress)),
      null when none. A run that died left the host at that step; entries recorded since by
      other runs do not hide it.
  returned: always
  type: dict
lock:
  description:
    - The lock file after the action (holder, deploy_id, job_id, acquired_at, renewed_at,
      expires_at, all null when free, and lock_breaks), plus C(active) (a lease is held and not
      expired) and C(expires_in) (seconds left, 0 when free or expired).
  returned: always
  type: dict
  sample: {"holder": "alice@ctl", "deploy_id": "d-1", "job_id": "42", "active": true,
    "acquired_at": "2026-11-23T05:00:00Z", "renewed_at": "2026-11-23T05:00:00Z",
    "expires_at": "2026-11-23T05:15:00Z", "expires_in": 900, "lock_breaks": []}
acquired:
  description: This deploy holds the lease now.
  returned: action is lock
  type: bool
broken:
  description:
    - The lease this action took over from another deploy, null when none; reason is V(forced) or
      V(expired), with who broke it (by), the lease broken and seconds_left (negative when expired).
  returned: action is lock
  type: dict
expired:
  description: The lease taken over had expired.
  returned: action is lock
  type: bool
held_by:
  description: The lease of the other deploy that holds the lock, when unlock left it alone.
  returned: action is unlock
  type: dict
entry:
  description: The newest history entry (the one recorded, or the same step recorded before).
  returned: action is record
  type: dict
"""

from datetime import datetime, timezone

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.slipway.ops.plugins.module_utils._release_action import (
    ActionFailed,
    perform,
)
from ansible_collections.slipway.ops.plugins.module_utils._release_ledger import (
    OUTCOMES,
    STAGES,
    TRIGGERS,
)

ARGUMENT_SPEC = {
    "path": {"type": "path", "default": "/var/lib/slipway/release"},
    "action": {
        "type": "str",
        "choices": ["query", "lock", "renew", "unlock", "record"],
        "default": "query",
    },
    "deploy_id": {"type": "str"},
    "holder": {"type": "str"},
    "job_id": {"type": "str", "default": ""},
    "ttl": {"type": "int", "default": 900},
    "force": {"type": "bool", "default": False},
    "release": {"type": "str"},
    "stage": {"type": "str", "choices": list(STAGES)},
    "outcome": {"type": "str", "choices": list(OUTCOMES)},
    "reason": {"type": "str", "default": ""},
    "trigger": {"type": "str", "choices": list(TRIGGERS), "default": ""},
    "who": {"type": "str", "default": ""},
    "history_limit": {"type": "int", "default": 50},
    "guard_timeout": {"type": "int", "default": 30},
}


def main():
    module = AnsibleModule(
        argument_spec=ARGUMENT_SPEC,
        required_if=[
            ("action", "lock", ("deploy_id", "holder")),
            ("action", "renew", ("deploy_id",)),
            ("action", "unlock", ("deploy_id",)),
            ("action", "record", ("deploy_id", "release", "stage", "outcome")),
        ],
        supports_check_mode=True,
    )
    try:
        result = perform(
            module.params,
            now=datetime.now(timezone.utc),
            check_mode=module.check_mode,
            guard_timeout=module.params["guard_timeout"],
        )
    except ActionFailed as err:
        module.fail_json(msg=str(err), changed=False, **err.result)
    if not module._diff:
        result.pop("diff", None)
    if result.get("broken"):
        broken = result["broken"]
        module.warn(
            f"deploy lock of {broken['broken']['holder']} (deploy {broken['broken']['deploy_id']}) "
            f"taken over ({broken['reason']})"
        )
    module.exit_json(**result)


if __name__ == "__main__":
    main()
