# Copyright: Slipway maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The inputs of deploy.yml and rollback.yml: each one's default, type and limits, once.

`settle()` takes the variables the run was given (inventory and -e) and
returns the typed settings the playbooks read, with every problem named, so
that bad input stops the run before the lock is taken. Controller-side only:
the filter slipway.ops.deploy_settings calls it. docs/deploy.md's input table
is checked against INPUTS (tests/unit/plugins/plugin_utils).
"""

from __future__ import annotations

import difflib
import os
import pwd
import re
import secrets
import socket
import string
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from ansible_collections.slipway.ops.plugins.module_utils._route_traffic import parse_route

# A release: an image tag (Docker's limit, 128 characters) or a digest.
RELEASE_MAX = 128
RELEASE_PATTERN = re.compile(
    rf"^([A-Za-z0-9_][A-Za-z0-9_.-]{{0,{RELEASE_MAX - 1}}}|sha256:[a-f0-9]{{64}})$"
)
SERIAL_PATTERN = re.compile(r"^([1-9][0-9]*|([1-9][0-9]?|100)%)$")
ENVIRONMENT_PATTERN = re.compile(r"^([A-Za-z0-9_][A-Za-z0-9_.-]{0,63})?$")
ID_PATTERN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.:-]{0,127}$")
LEVELS = ("basic", "standard", "strict")
SEVERITIES = ("critical", "high", "medium", "low", "info")
PREFIXES = ("slipway_deploy_", "slipway_rollback_")


class Problem(ValueError):
    """One input that cannot be used; the message says what it must be."""


def _integer(value: object) -> int:
    if isinstance(value, bool):
        raise Problem("a whole number")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"-?[0-9]+", value.strip()):
        return int(value)
    raise Problem("a whole number")


def _number(value: object) -> float:
    if isinstance(value, bool):
        raise Problem("a number")
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str) and re.fullmatch(r"-?[0-9]+(\.[0-9]+)?", value.strip()):
        return float(value)
    raise Problem("a number")


def _boolean(value: object) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "yes", "on", "1"):
        return True
    if text in ("false", "no", "off", "0"):
        return False
    raise Problem("true or false")


def between(parse: Callable, low: float | None = None, high: float | None = None, what=""):
    """A parser that also checks low <= value <= high."""

    def check(value: object):
        parsed = parse(value)
        if (low is not None and parsed < low) or (high is not None and parsed > high):
            bounds = (
                f"from {low:g} to {high:g}"
                if low is not None and high is not None
                else f"at least {low:g}"
                if low is not None
                else f"at most {high:g}"
            )
            raise Problem(f"{what or 'a value'} {bounds}")
        return parsed

    return check


def one_of(*choices: str):
    def check(value: object) -> str:
        if str(value) not in choices:
            raise Problem(" or ".join(choices))
        return str(value)

    return check


def _serial(value: object) -> str:
    if not SERIAL_PATTERN.match(str(value)):
        raise Problem("a host count (1, 2) or a percentage (25%)")
    return str(value)


def _routes(value: object) -> list[str]:
    """The requests the run may send on a quiet fleet (slipway.ops.route_traffic's rules)."""
    if not isinstance(value, (list, tuple)) or not value:
        raise Problem("a list of routes, each 'GET /path' or 'POST /path {json body naming {id}}'")
    for route in value:
        try:
            parse_route(str(route))
        except ValueError as err:
            raise Problem(str(err)) from None
    return [str(route) for route in value]


def _severities(value: object) -> list[str]:
    names = value.split(",") if isinstance(value, str) else value
    if not isinstance(names, (list, tuple)) or not names:
        raise Problem(f"a list of severities ({', '.join(SEVERITIES)})")
    chosen = [str(name).strip() for name in names]
    if any(name not in SEVERITIES for name in chosen):
        raise Problem(f"a list of severities ({', '.join(SEVERITIES)})")
    return chosen


def _text(pattern: re.Pattern, what: str):
    def check(value: object) -> str:
        if not isinstance(value, str) or not pattern.match(value):
            raise Problem(what)
        return value

    return check


def _reason(value: object) -> str:
    """A reason an operator writes for the record: empty, or a sentence (10 characters or more)."""
    text = " ".join(value.split()) if isinstance(value, str) else None
    if text is None or 0 < len(text) < 10:
        raise Problem("empty, or a reason of 10 characters or more (it is recorded)")
    return text


def _non_empty(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise Problem("a non-empty string")
    return value.strip()


@dataclass(frozen=True)
class Input:
    """One deploy input: the variable, the setting it fills, its default and parser."""

    variable: str
    setting: str
    default: object
    parse: Callable[[object], object]
    meaning: str


SECONDS = "seconds"
INPUTS: tuple[Input, ...] = (
    Input(
        "slipway_deploy_serial", "serial", 1, _serial, "hosts per batch: a count or a percentage"
    ),
    Input(
        "slipway_deploy_rollback_policy",
        "rollback_policy",
        "fleet",
        one_of("fleet", "host"),
        "fleet: a failure puts every updated host back; host: only the failed host",
    ),
    Input(
        "slipway_deploy_max_fail_percentage",
        "max_fail_percentage",
        0,
        between(_integer, 0, 100, "a whole percentage"),
        "with policy host, the share of hosts that may fail",
    ),
    Input(
        "slipway_deploy_gate_timeout",
        "gate_timeout",
        120,
        between(_integer, 5, 3600, "whole seconds"),
        "seconds for readiness to hold before the soak",
    ),
    Input(
        "slipway_deploy_gate_interval",
        "gate_interval",
        1,
        between(_number, 0.1, 60, "seconds"),
        "seconds between two gate samples",
    ),
    Input(
        "slipway_deploy_gate_successes",
        "gate_successes",
        3,
        between(_integer, 1, 100, "a count"),
        "passing samples in a row the gate needs",
    ),
    Input(
        "slipway_deploy_canary_soak",
        "canary_soak",
        40,
        between(_integer, 0, 3600, "whole seconds"),
        "the first batch's soak",
    ),
    Input(
        "slipway_deploy_canary_window",
        "canary_window",
        60,
        between(_integer, 0, 3600, "whole seconds"),
        "seconds of real traffic the canary is judged on against the baseline (0: no analysis)",
    ),
    Input(
        "slipway_deploy_canary_max_window",
        "canary_max_window",
        180,
        between(_integer, 10, 3600, "whole seconds"),
        "while the judge is inconclusive (too few requests), the window grows up to this",
    ),
    Input(
        "slipway_deploy_canary_interval",
        "canary_interval",
        15,
        between(_integer, 5, 600, "whole seconds"),
        "how often the judge looks at the canary's growing window; a regression fails it early",
    ),
    Input(
        "slipway_deploy_canary_latency_looks",
        "canary_latency_looks",
        2,
        between(_integer, 1, 10, "a count"),
        "looks in a row that must show a slower canary to fail it (a stall of a few seconds "
        "on its host does not); more errors fail it at the first look",
    ),
    Input(
        "slipway_deploy_canary_weight",
        "canary_weight",
        25,
        between(_integer, 1, 100, "a whole percentage"),
        "the canary's traffic while it is judged, as a share of a baseline host's",
    ),
    Input(
        "slipway_deploy_canary_inconclusive",
        "canary_inconclusive",
        "traffic",
        one_of("fail", "pass", "traffic"),
        "a canary or watch with too few requests to judge: pass goes on, said; fail fails the "
        "deploy; traffic is pass, except on a quiet fleet: the run sends its own requests and "
        "judges on them (still too few: fails)",
    ),
    Input(
        "slipway_deploy_route_traffic_rate",
        "route_traffic_rate",
        20,
        between(_integer, 1, 200, "requests a second"),
        "the run's own requests through each load balancer on a quiet fleet",
    ),
    Input(
        "slipway_deploy_route_traffic_routes",
        "route_traffic_routes",
        [
            "GET /v1/agents?limit=20",
            "GET /v1/agents/{id}",
            "GET /v1/tasks/{id}",
            'POST /v1/tasks {"agent_id": "{id}", "input": {}}',
        ],
        _routes,
        "the routes those requests go to, in turn: reads, and writes that change nothing",
    ),
    Input(
        "slipway_deploy_canary_source",
        "canary_source",
        "lb_log",
        one_of("lb_log", "prometheus"),
        "the canary's evidence: the load balancers' access logs, or the platform's metrics",
    ),
    Input(
        "slipway_deploy_watch_window",
        "watch_window",
        20,
        between(_integer, 0, 3600, "whole seconds"),
        "seconds of real traffic each later host, then each host of the fleet at the end, "
        "is judged on against what the fleet served before the deploy and against its "
        "peers (0: no watch)",
    ),
    Input(
        "slipway_deploy_watch_baseline",
        "watch_baseline",
        300,
        between(_integer, 30, 3600, "whole seconds"),
        "the seconds before the deploy whose traffic the watch compares with",
    ),
    Input(
        "slipway_deploy_soak",
        "soak",
        10,
        between(_integer, 0, 3600, "whole seconds"),
        "the soak of the later batches",
    ),
    Input(
        "slipway_deploy_fleet_soak",
        "fleet_soak",
        10,
        between(_integer, 0, 3600, "whole seconds"),
        "the soak through the load balancer after the last batch (0: none)",
    ),
    Input(
        "slipway_deploy_latency_p95_ms",
        "latency_p95_ms",
        500,
        between(_integer, 1, 600_000, "milliseconds"),
        "the p95 budget of the gate's samples and the performance baseline",
    ),
    Input(
        "slipway_deploy_latency_confirm",
        "latency_confirm",
        True,
        _boolean,
        "a p95 budget broken at the end of a soak, or in the verification's performance "
        "sample, is confirmed by a second one of the same size before the step fails (a "
        "stall of a few seconds does not fail a release)",
    ),
    Input(
        "slipway_deploy_memory_max_percent",
        "memory_max_percent",
        90,
        between(_integer, 1, 100, "a whole percentage"),
        "a container's memory against its limit",
    ),
    Input(
        "slipway_deploy_golden_timeout",
        "golden_timeout",
        30,
        between(_integer, 1, 3600, "whole seconds"),
        "seconds for a worker of the release to complete the golden task",
    ),
    Input(
        "slipway_deploy_validation_level",
        "validation_level",
        None,
        one_of(*LEVELS),
        "the verification checks run: slipway_validation_level, else standard",
    ),
    Input(
        "slipway_deploy_fail_on",
        "fail_on",
        None,
        _severities,
        "the severities whose failure stops the run: slipway_verify_fail_on, else [critical]",
    ),
    Input(
        "slipway_deploy_lock_host",
        "lock_host",
        None,
        _non_empty,
        "the app host that keeps the lock: the first app host",
    ),
    Input(
        "slipway_deploy_lock_ttl",
        "lock_ttl",
        900,
        between(_integer, 60, 86_400, "whole seconds"),
        "seconds the lease lasts; every batch renews it",
    ),
    Input(
        "slipway_deploy_lock_break",
        "lock_break",
        False,
        _boolean,
        "take the lock from a deploy that is dead; the break is recorded",
    ),
    Input(
        "slipway_deploy_promote_from",
        "promote_from",
        "",
        _text(ENVIRONMENT_PATTERN, "an environment's name (its slipway_environment), or empty"),
        "deploy.yml: the environment a release must have shipped to first (audit log); empty: none",
    ),
    Input(
        "slipway_deploy_promotion_override",
        "promotion_override",
        "",
        _reason,
        "deploy.yml: why this release may skip its promotion; recorded in the audit log",
    ),
    Input(
        "slipway_deploy_id",
        "id",
        None,
        _text(ID_PATTERN, "letters, digits and ._:- (up to 128)"),
        "the run's id in the ledger and the audit log: <kind>-<UTC time>-<random>",
    ),
    Input(
        "slipway_deploy_who",
        "who",
        None,
        _non_empty,
        "who, in the ledger and the lock: the OS account and host (and the AWX user and job)",
    ),
    Input(
        "slipway_rollback_gate_successes",
        "rollback_gate_successes",
        2,
        between(_integer, 1, 100, "a count"),
        "rollback.yml and every rollback: passing samples in a row",
    ),
    Input(
        "slipway_rollback_gate_interval",
        "rollback_gate_interval",
        0.5,
        between(_number, 0.1, 60, "seconds"),
        "rollback.yml and every rollback: seconds between samples",
    ),
    Input(
        "slipway_rollback_soak",
        "rollback_soak",
        0,
        between(_integer, 0, 3600, "whole seconds"),
        "rollback.yml: the soak after readiness (no canary soak)",
    ),
    Input(
        "slipway_rollback_fleet_soak",
        "rollback_fleet_soak",
        0,
        between(_integer, 0, 3600, "whole seconds"),
        "rollback.yml: the soak through the load balancer at the end",
    ),
    Input(
        "slipway_verify_backup_max_age_hours",
        "backup_max_age_hours",
        26,
        between(_number, 0.0001, 87_600, "hours"),
        "the backup_freshness check's limit (strict level)",
    ),
    Input(
        "slipway_release_ledger_dir",
        "ledger_dir",
        "/var/lib/slipway/release",
        _text(re.compile(r"^/\S+$"), "an absolute path"),
        "the ledger's and the lock's directory on the app hosts",
    ),
)
# Inputs whose default comes from another variable, which a problem then names.
FALLBACK_VARIABLES = {
    "validation_level": "slipway_validation_level",
    "fail_on": "slipway_verify_fail_on",
}
BY_VARIABLE = {spec.variable: spec for spec in INPUTS}


def operator(environ: Mapping[str, str], awx_user: str = "", job_id: str = "") -> str:
    """Who runs this: the OS account (never $USER, unset under cron and systemd) and the
    controller's host name; the sudo user when there is one; AWX's user and job when present."""
    try:
        account = pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        account = f"uid{os.getuid()}"
    local = f"{account}@{socket.gethostname()}"
    sudo_user = environ.get("SUDO_USER", "")
    if sudo_user and sudo_user != account:
        local = f"{sudo_user} as {local}"
    if awx_user:
        job = f" job {job_id}" if job_id else ""
        return f"{awx_user} (AWX{job}) as {local}"
    return local


# The playbook that starts each kind of run (_vocabulary.KINDS).
PLAYBOOKS = {"deploy": "deploy.yml", "rollback": "rollback.yml", "reconcile": "site.yml"}


def new_id(kind: str, now: datetime | None = None) -> str:
    moment = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    alphabet = string.ascii_lowercase + string.digits
    return f"{kind}-{moment}-{''.join(secrets.choice(alphabet) for _i in range(6))}"


def _unknown(given: Mapping[str, object]) -> list[str]:
    problems = []
    for name in sorted(given):
        if name.startswith(PREFIXES) and name not in BY_VARIABLE:
            close = difflib.get_close_matches(name, list(BY_VARIABLE), n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            problems.append(f"{name} is not an input of deploy.yml or rollback.yml{hint}.")
    return problems


def settle(
    given: Mapping[str, object],
    *,
    kind: str,
    release: str,
    app_hosts: list[str],
    validation_level: object = "standard",
    fail_on: object = ("critical",),
    job_id: str = "",
    awx_user: str = "",
    environment: str = "",
    environ: Mapping[str, str] | None = None,
) -> dict:
    """The run's settings from the `slipway_deploy_*`/`slipway_rollback_*` variables given;
    `problems` lists every bad one (empty: go on)."""
    settings: dict = {
        "kind": kind,
        "release": release,
        "job_id": str(job_id or ""),
        # The watch's baseline window ends here (epoch seconds).
        "started": round(time.time(), 3),
    }
    problems: list[str] = []
    # A reconcile (site.yml) puts each host back on the release its own ledger knows.
    if kind != "reconcile" and (not isinstance(release, str) or not RELEASE_PATTERN.match(release)):
        problems.append(
            "slipway_release must name an image tag ([A-Za-z0-9_.-], up to 128) or "
            f"sha256:<64 hex>, got {release or 'nothing'}."
        )
    fallbacks = {
        "validation_level": validation_level,
        "fail_on": fail_on,
        "lock_host": app_hosts[0] if app_hosts else "",
        "id": new_id(kind),
        "who": operator(os.environ if environ is None else environ, awx_user, settings["job_id"]),
    }
    for spec in INPUTS:
        value = given.get(spec.variable)
        if value is None or value == "":
            value = spec.default if spec.default is not None else fallbacks[spec.setting]
            variable = spec.variable if spec.default is not None else None
        else:
            variable = spec.variable
        try:
            settings[spec.setting] = spec.parse(value)
        except Problem as problem:
            named = variable or FALLBACK_VARIABLES.get(spec.setting, spec.variable)
            problems.append(f"{named} must be {problem}, got {value!r}.")
            settings[spec.setting] = spec.default
    if settings.get("lock_host") and settings["lock_host"] not in app_hosts:
        problems.append(
            f"slipway_deploy_lock_host must be an app host ({', '.join(app_hosts)}), "
            f"got {settings['lock_host']}."
        )
    if settings["canary_max_window"] < settings["canary_window"]:
        problems.append(
            f"slipway_deploy_canary_max_window must be at least slipway_deploy_canary_window "
            f"({settings['canary_window']}), got {settings['canary_max_window']}."
        )
    if environment and settings["promote_from"] == environment:
        problems.append(
            f"slipway_deploy_promote_from names this inventory's own environment ({environment}): "
            "name the one before it (production's is staging), or leave it empty."
        )
    problems += _unknown(given)
    settings["problems"] = problems
    settings["playbook"] = PLAYBOOKS[kind]
    settings["title"] = (
        f"Reconcile {settings['id']} (site.yml)"
        if kind == "reconcile"
        else f"{kind.capitalize()} {settings['id']} of release {release}"
    )
    return settings
