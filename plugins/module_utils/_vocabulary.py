# Copyright: Slipway maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The deploy's vocabulary, defined once: its kinds of run, stages, outcomes and triggers.

The modules (release, health_gate, verify), the audit callback and its metrics
import these names; the playbooks and docs/deploy.md use them, and
tests/unit/test_vocabulary.py fails on a name that is not defined here. Each
name maps to the one line that says what it means.
"""

from __future__ import annotations

# The kinds of run that change releases; each is a deploy in the ledger and the audit log.
KINDS = {
    "deploy": "deploy.yml: a release rolled over the app hosts, health-gated",
    "rollback": "rollback.yml: the emergency path back to the previous (or a named) release",
    "reconcile": "site.yml: hosts a dead run left drained or half-way put back on their release",
}

# Where a deploy or rollback is, in the ledger and the audit log.
STAGES = {
    "validating": "inputs checked, lock taken, each host's release read, the release pulled",
    "testing": "a release tested before any host changes (reserved for pre-deploy checks)",
    "deploying": "the rolling batches: drain, start, gate, verify, undrain",
    "monitoring": "the fleet soaked and verified through the load balancer",
    "completed": "the host (or fleet) runs the release, verified",
    "failed": "a step failed",
    "rolling_back": "hosts going back to the release they ran before",
    "rolled_back": "the host is back on the release it ran before",
    "adopted": "the ledger took a release found running (changed outside Slipway)",
}

# How a whole run ended: the audit log's deploy outcome and each ledger's last word.
OUTCOMES = {
    "success": "every app host runs the release and passed its gates and the fleet verification",
    "failed": "the run failed and a reachable host could not be put back on its release",
    "rolled_back": "the run failed and every reachable host is back on the release it ran before",
    "refused": "stopped before any host changed: bad input, the lock, a host down, an absent image",
    "interrupted": "the controller stopped (Ctrl-C, a signal) before the run settled",
}
# A ledger entry may also be open: the step it records has not ended yet.
IN_PROGRESS = "in_progress"
LEDGER_OUTCOMES = (IN_PROGRESS, *OUTCOMES)
# Outcomes that count as a change failure (DORA): a refused run changed nothing.
CHANGE_FAILURES = ("failed", "rolled_back", "interrupted")

DEPLOYMENT_FAILURE = "deployment_failure"
HEALTH_CHECK_FAILURE = "health_check_failure"
PERFORMANCE_DEGRADATION = "performance_degradation"
SECURITY_VIOLATION = "security_violation"
RESOURCE_EXHAUSTION = "resource_exhaustion"
MANUAL = "manual"
HOST_UNREACHABLE = "host_unreachable"

# What set a failure or rollback off; the step that fails names it.
TRIGGERS = {
    DEPLOYMENT_FAILURE: "a deploy step failed: the image, Compose, the load balancer, the ledger",
    HEALTH_CHECK_FAILURE: "readiness, a restart, an exit, errors, or a failed functional check",
    PERFORMANCE_DEGRADATION: "latency over its budget, or the performance baseline failed",
    SECURITY_VIOLATION: "the security posture failed: TLS, headers, authentication, debug paths",
    RESOURCE_EXHAUSTION: "a container's memory over its share of the limit",
    MANUAL: "an operator asked for it (rollback.yml)",
    HOST_UNREACHABLE: "a host stopped answering over SSH during its step",
}
# The triggers a ledger entry may carry ('' for none).
LEDGER_TRIGGERS = (*TRIGGERS, "")

# What a gate or the canary judge says of a release (health_gate, canary_judge).
VERDICTS = {
    "passed": "the checks held, or the canary served its traffic no worse than the baseline",
    "failed": "a check failed, or the canary served its traffic significantly worse",
    "inconclusive": "too few requests to tell: the canary judge never passes on silence",
}

# When a deploy judges a release on real traffic (docs/canary.md).
ANALYSES = {
    "canary": "the first batch at a reduced weight, against the baseline hosts at the same time",
    "watch": "a later host against the fleet before the deploy, and its peers alongside",
}

# How the canary judge groups the requests the load balancers saw.
ROUTE_CLASSES = {
    "reads": "GET and HEAD on the API (/v1/), the probes (/health, /ready ...) left out",
    "task_submissions": "POST /v1/tasks: the agent work users submit",
    "other_writes": "POST, PUT, PATCH and DELETE on the API's other routes",
}
