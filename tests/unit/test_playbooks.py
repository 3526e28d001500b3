"""Playbooks, roles and inventories load from a checkout and refuse bad input.

These run real ansible-playbook commands against localhost and need no Docker
Engine: every case fails in preflight, before anything could be changed.
"""

from __future__ import annotations

import json
import re

import pytest

from tests.certs import self_signed
from tests.conftest import ROOT, ansible_env, run

PLAYBOOKS = ["site.yml", "deploy.yml", *sorted(p.name for p in (ROOT / "playbooks").glob("*.yml"))]
INVENTORIES = ["dev", "staging", "production"]
# No Docker Engine answers here: a check that got as far as Docker would fail differently.
NO_DOCKER = {"DOCKER_HOST": "unix:///nonexistent/docker.sock"}


def playbook(path: str, inventory: str, *extra_vars: str, docker: bool = True):
    """Run a playbook with `-e` for each of extra_vars; docker=False hides the engine."""
    args = ["ansible-playbook", path, "-i", f"inventories/{inventory}"]
    for extra in extra_vars:
        args += ["-e", extra]
    return run(args, env=None if docker else ansible_env(**NO_DOCKER))


@pytest.mark.parametrize("name", PLAYBOOKS)
def test_playbook_resolves_slipway_ops_in_place(name):
    path = f"playbooks/{name}" if name not in ("site.yml", "deploy.yml") else name
    result = run(["ansible-playbook", "--syntax-check", "-i", "inventories/production", path])
    assert result.returncode == 0, result.stdout


@pytest.mark.parametrize("inventory", INVENTORIES)
def test_inventory_defines_the_platform_groups(inventory):
    result = run(["ansible-inventory", "-i", f"inventories/{inventory}", "--list"])
    assert result.returncode == 0, result.stdout
    groups = json.loads(result.stdout[result.stdout.index("{") :])
    platform = ("lb", "app", "db", "monitoring")
    for group in platform:
        assert groups[group]["hosts"], f"{inventory} has no {group} host"
    # Every host is in a platform group: a stray file in the inventory
    # directory (parsed as an inventory source) would add hosts of its own.
    hosts = set(groups["_meta"]["hostvars"]) | set(groups.get("ungrouped", {}).get("hosts", []))
    assert hosts == {h for group in platform for h in groups[group]["hosts"]}


def test_deploy_without_a_release_names_the_variable():
    result = playbook("deploy.yml", "production")
    assert result.returncode != 0
    assert "slipway_release must name an image tag" in result.stdout
    assert "got nothing." in result.stdout
    assert "-e slipway_release=<tag>" in result.stdout


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({"slipway_release": "a b"}, "or sha256:<64 hex>, got a b."),
        ({"slipway_deploy_serial": "half"}, "slipway_deploy_serial must be a host count (1, 2)"),
        ({"slipway_deploy_rollback_policy": "none"}, "rollback_policy must be fleet or host"),
        (
            {"slipway_deploy_validation_level": "max"},
            "must be basic or standard or strict, got 'max'.",
        ),
        ({"slipway_deploy_lock_host": "db1"}, "slipway_deploy_lock_host must be an app host"),
        ({"slipway_deploy_lock_ttl": 5}, "slipway_deploy_lock_ttl must be whole seconds from 60"),
        (
            {"slipway_deploy_canary_soak": -1},
            "slipway_deploy_canary_soak must be whole seconds from 0",
        ),
        (
            {"slipway_deploy_gate_interval": 0},
            "slipway_deploy_gate_interval must be seconds from 0.1",
        ),
        (
            {"slipway_deploy_latency_p95_ms": "fast"},
            "slipway_deploy_latency_p95_ms must be a whole number",
        ),
        ({"slipway_deploy_memory_max_percent": 0}, "must be a whole percentage from 1 to 100"),
        (
            {"slipway_deploy_golden_timeout": 0},
            "slipway_deploy_golden_timeout must be whole seconds",
        ),
        ({"slipway_deploy_fleet_soak": "-3"}, "slipway_deploy_fleet_soak must be whole seconds"),
        (
            {"slipway_deploy_fail_on": "critical,urgent"},
            "slipway_deploy_fail_on must be a list of severities",
        ),
        ({"slipway_deploy_gate_timout": 30}, "(did you mean slipway_deploy_gate_timeout?)"),
        (
            {"slipway_verify_backup_max_age_hours": "a day"},
            "slipway_verify_backup_max_age_hours must be a number",
        ),
        (
            {"slipway_verify_backup_max_age_hours": 0},
            "slipway_verify_backup_max_age_hours must be hours from",
        ),
    ],
)
def test_deploy_refuses_bad_input_before_the_lock(extra, expected):
    """Every case fails on the controller: the production hosts are never contacted."""
    request = {"slipway_release": "1.2.0", **extra}
    result = playbook("deploy.yml", "production", json.dumps(request))
    assert result.returncode != 0
    out = " ".join(result.stdout.split())
    assert "Deploy request refused, nothing was changed:" in out
    assert expected in out, result.stdout[-2000:]
    assert "Check that the host answers" not in result.stdout
    assert "Take the fleet's deploy lock" not in result.stdout


def test_rollback_refuses_bad_input_before_the_lock():
    request = {"slipway_release": "1.0.0", "slipway_rollback_gate_interval": "fast"}
    result = run(
        [
            "ansible-playbook",
            "rollback.yml",
            "-i",
            "inventories/production",
            "-e",
            json.dumps(request),
        ]
    )
    assert result.returncode != 0
    out = " ".join(result.stdout.split())
    assert "Rollback request refused, nothing was changed:" in out
    assert "slipway_rollback_gate_interval must be a number, got 'fast'." in out
    assert "Take the fleet's deploy lock" not in result.stdout


def test_lab_refuses_an_unknown_host_before_touching_docker():
    result = playbook("playbooks/lab.yml", "dev", '{"lab_hosts": ["app1", "app9"]}', docker=False)
    assert result.returncode != 0
    assert "lab_hosts names app9, which the inventory" in result.stdout
    assert "Ask the Docker Engine" not in result.stdout


def test_lab_refuses_an_address_outside_its_subnet():
    result = playbook("playbooks/lab.yml", "dev", "lab_network_subnet=10.9.0.0/24", docker=False)
    assert result.returncode != 0
    assert "inside lab_network_subnet 10.9.0.0/24" in result.stdout
    assert "Ask the Docker Engine" not in result.stdout


def test_lab_without_docker_says_why_and_how(tmp_path):
    result = playbook("playbooks/lab.yml", "dev", f"lab_state_dir={tmp_path}/lab", docker=False)
    assert result.returncode != 0
    assert "No Docker Engine answers" in result.stdout
    assert "scripts/ensure-docker" in result.stdout
    assert not (tmp_path / "lab").exists()


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ("apt_proxy_url=ftp://cache:21", "it must look like http://host:port"),
        ('{"apt_proxy_direct_hosts": ["bad host"]}', "apt_proxy_direct_hosts has entries that"),
        ("apt_proxy_url=http://127.0.0.1:9", "http://127.0.0.1:9 does not answer from localhost"),
    ],
)
def test_apt_proxy_refuses_bad_input_before_any_change(extra, expected):
    role = ["-m", "ansible.builtin.include_role", "-a", "name=slipway.ops.apt_proxy"]
    result = run(["ansible", "localhost", *role, "-e", extra, "-e", "apt_proxy_check_timeout=2"])
    assert result.returncode != 0
    assert expected in " ".join(result.stdout.split())
    assert "changed=1" not in result.stdout


# Every case must set the bad value itself: the dev inventory's group_vars/all
# (platform.yml, the vault) reach the implicit localhost too, so a case that
# leaves a secret unset gets the lab's and would converge the controller.
# Bad input for the roles, one play per case in a single ansible-playbook run
# (one start-up instead of one per case): each play applies the role to
# localhost and rescues its failure, printing the failed task and message.
SSH_KEY = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKJ0b2dy1Lp4CbR5Dw2DdMt1XC7u4u2yN4m4V1cY0qL3 ops@example"
)
ADMIN_NETWORKS = {"host_prep_admin_networks": ["10.0.0.0/8"]}
BACKENDS = {"nginx_tls_upstreams": [{"name": "app1", "address": "10.0.0.21"}]}
# What each role's cases start from (the minimum its preflight accepts).
CERT, TLS_KEY, _ = self_signed()
EXPIRED_CERT, EXPIRED_KEY, _ = self_signed(days=-3)


def provided(cert, key):
    mode = {"nginx_tls_mode": "provided"}
    return mode | {"nginx_tls_certificate": cert, "nginx_tls_private_key": key}


CIPHER = "c" * 32


def allow(port, source):
    return {"host_prep_firewall_allow": [{"name": "x", "ports": [port], "sources": [source]}]}


BAD_INPUT = {
    "host_prep": [
        ({"host_prep_admin_users": [{"name": "ops"}]}, "Users with no key: ops."),
        (
            {"host_prep_admin_users": [{"name": "ops", "authorized_keys": ["hunter2"]}]},
            "a key of ops is not an SSH public key",
        ),
        (
            {"host_prep_admin_users": [{"name": "Bad Name", "authorized_keys": [SSH_KEY]}]},
            "Bad names: Bad Name.",
        ),
        (allow(70000, "10.0.0.0/8"), "ports must be whole numbers in 1-65535; got 70000."),
        (allow("http", "10.0.0.0/8"), "ports must be whole numbers in 1-65535; got http."),
        ({"host_prep_ssh_port": 0}, "ports must be whole numbers in 1-65535; got 0."),
        (allow(80, "10.0.0.300/8"), "must be CIDR networks or addresses (10.0.0.0/8"),
        (allow(80, "10.0.0.300/8"), "2001:db8::/32); not: 10.0.0.300/8."),
        ({"host_prep_admin_networks": ["office"]}, "not: office."),
        ({"host_prep_admin_networks": []}, "host_prep_admin_networks is empty"),
        ({"host_prep_timezone": "Mars/Olympus Mons"}, "host_prep_timezone like Europe/Paris"),
        ({"host_prep_apt_update_timeout": 0}, "host_prep_apt_update_timeout must be at least 10"),
        ({"host_prep_apt_lists_max_age": -1}, "host_prep_apt_lists_max_age must be 0 or more"),
    ],
    "docker_engine": [
        (
            {"docker_engine_source": "ubuntu"},
            "value of docker_engine_source must be one of: debian, docker, got: ubuntu",
        ),
        (
            {
                "docker_engine_source": "docker",
                "docker_engine_docker_repo_key_url": "http://127.0.0.1:9/gpg",
                "docker_engine_docker_repo_check_timeout": 2,
            },
            "docker_engine_source is docker, but http://127.0.0.1:9/gpg does not answer",
        ),
        (
            {"docker_engine_compose_binary": "/nonexistent/docker-compose"},
            "/nonexistent/docker-compose is not a working Compose v2 binary",
        ),
        (
            {"docker_engine_address_pools": [{"base": "172.30.0.1/33", "size": 24}]},
            "docker_engine_address_pools: base 172.30.0.1/33 must be a network",
        ),
        (
            {"docker_engine_address_pools": [{"base": "172.30.0.0/16", "size": 8}]},
            "size 8 a prefix length at least as long as the base",
        ),
        ({"docker_engine_insecure_registries": ["bad host!"]}, "not: bad host!."),
    ],
    "app_stack": [
        (
            {"app_stack_database_password": ""},
            "A required secret is missing: app_stack_database_password.",
        ),
        ({"app_stack_api_keys": []}, "missing: app_stack_api_keys (at least one key)."),
        (
            {"app_stack_mode": "single", "app_stack_redis_password": ""},
            "missing: app_stack_redis_password (single mode).",
        ),
        (
            {"app_stack_database_host": ""},
            "app_stack_mode is fleet, so app_stack_database_host ('')",
        ),
        ({"app_stack_release": ""}, "localhost runs no release yet, nor does any other host"),
        ({"app_stack_release": "1.0 beta"}, "app_stack_release 1.0 beta is neither a tag"),
        ({"app_stack_release": "sha256:abc"}, "app_stack_release sha256:abc is neither a tag"),
        (
            {"app_stack_image": "registry:5000/slipway/platform:1.1.0"},
            "must be a repository without tag",
        ),
        ({"app_stack_environment": "qa"}, "app_stack_environment 'qa' must be one of"),
        ({"app_stack_worker_replicas": 0}, "app_stack_worker_replicas at least 1"),
        (
            {"app_stack_mode": "swarm"},
            "value of app_stack_mode must be one of: fleet, single, got: swarm",
        ),
        (
            {"app_stack_image_source": "archive"},
            "app_stack_image_source=archive needs app_stack_image_archive",
        ),
    ],
    "nginx_tls": [
        ({"nginx_tls_upstreams": []}, "nginx_tls_upstreams is empty: Nginx would have no backend"),
        (
            {"nginx_tls_upstreams": [{"name": "a", "address": "10.0.0.1"}] * 2},
            "names a backend more than once (a, a)",
        ),
        (
            {"nginx_tls_upstreams": [{"name": "app1", "address": "10.0.0.21:8000"}]},
            "needs an address (a host name or IP, without a port; got '10.0.0.21:8000')",
        ),
        (provided(CERT, self_signed()[1]), "does not match nginx_tls_private_key"),
        (provided(EXPIRED_CERT, EXPIRED_KEY), "(nginx-tls-lb) expired on"),
        (provided("not a certificate", TLS_KEY), "nginx_tls_certificate is not a PEM certificate"),
        (provided("", ""), "put the certificate chain (PEM) and its key in the inventory's"),
        ({"nginx_tls_mode": "acme"}, "nginx_tls_acme_email must be the account's e-mail"),
        (
            {"nginx_tls_mode": "acme", "nginx_tls_acme_email": "ops@example.com"},
            "(not: localhost)",
        ),
        ({"nginx_tls_status_port": 443}, "other than 80 and 443 (got 443)"),
        ({"nginx_tls_rate_limits": [{"zone": "nope"}]}, "(unknown: nope)"),
    ],
    "postgres": [
        (
            {"postgres_users": [{"name": "platform", "password": ""}]},
            "No password for: platform.",
        ),
        (
            {"postgres_databases": [{"name": "platform", "owner": "nobody"}]},
            "each database needs a name and an owner listed in postgres_users",
        ),
        (
            {"postgres_allowed_clients": ["app hosts"]},
            "CIDR networks (10.0.0.21, 10.0.0.0/24); not: app hosts.",
        ),
        ({"postgres_listen_addresses": ["db1"]}, "must be IP addresses of this host; not: db1."),
        (
            {"postgres_tls_cert": "-----BEGIN CERTIFICATE-----"},
            "postgres_tls_cert and postgres_tls_key go together",
        ),
        ({"postgres_memory_mb": 100}, "postgres_memory_mb at least 256"),
    ],
    "redis": [
        ({"redis_password": ""}, "redis_password is empty"),
        ({"redis_password": "short"}, "redis_password is shorter than 16 characters"),
        (
            {"redis_password": "x" * 20, "redis_bind_addresses": ["0.0.0.0/0"]},
            "redis_bind_addresses must be IP addresses of this host; not: 0.0.0.0/0.",
        ),
        (
            {"redis_password": "x" * 20, "redis_maxmemory_policy": "lru"},
            "value of redis_maxmemory_policy must be one of",
        ),
    ],
    "postgres_backup": [
        ({"postgres_backup_cipher_pass": ""}, "postgres_backup_cipher_pass is empty"),
        ({"postgres_backup_cipher_pass": "short"}, "is shorter than 32 characters"),
        (
            {"postgres_backup_cipher_pass": CIPHER, "postgres_backup_retention_full": 0},
            "must be at least 1: a retention of 0 would expire every backup",
        ),
        (
            {"postgres_backup_cipher_pass": CIPHER, "postgres_backup_drill_dir": "/"},
            "postgres_backup_drill_dir must be absolute paths",
        ),
        (
            {"postgres_backup_cipher_pass": CIPHER, "postgres_backup_s3_bucket": "backups"},
            "give postgres_backup_s3_endpoint",
        ),
    ],
    "postgres_backup/restore_check": [
        (
            {"postgres_backup_restore_confirm": "db9"},
            "Confirm it by naming the host: -e restore_confirm=localhost",
        ),
    ],
    "postgres_backup/run": [
        ({"postgres_backup_run": "restore"}, "value of postgres_backup_run must be one of"),
    ],
    "monitoring": [
        (
            {"monitoring_scrape_jobs": [{"job": "api", "hosts": ["app1", "app9"], "port": 8000}]},
            "job api names app9, which the inventory does not have",
        ),
        (
            {"monitoring_scrape_jobs": [{"job": "api", "hosts": ["app1"], "port": 0}]},
            "job api needs a name of its own (letters, digits, _), a list of inventory hosts",
        ),
        (
            {"monitoring_alert_receivers": [{"name": "ops", "type": "webhook", "url": ""}]},
            "monitoring_alert_receivers: ops (webhook) has no url",
        ),
        (
            {
                "monitoring_alert_receivers": [
                    {"name": "ops-slack", "type": "slack", "channel": "#o"}
                ]
            },
            "ops-slack (slack) has no api_url, its secret incoming-webhook URL",
        ),
        (
            {
                "monitoring_alert_receivers": [
                    {"name": "ops-mail", "type": "email", "to": "o@x.org"}
                ]
            },
            "ops-mail (email) needs monitoring_smtp_smarthost and monitoring_smtp_from",
        ),
        (
            {
                "monitoring_alert_receivers": [
                    {"name": "ops-mail", "type": "email", "to": "o@x.org"}
                ],
                "monitoring_smtp_smarthost": "smtp.example.com:587",
                "monitoring_smtp_from": "alerts@example.com",
                "monitoring_smtp_auth_username": "alerts",
                "monitoring_smtp_auth_password": "",
            },
            "auth_username is set but its secret, monitoring_smtp_auth_password, is empty",
        ),
        (
            {"monitoring_alert_receivers": [{"name": "pager", "type": "pagerduty"}]},
            "pager has type pagerduty; it must be one of webhook, email, slack",
        ),
        (
            {
                "monitoring_alert_receivers": [
                    {
                        "name": "ops",
                        "type": "webhook",
                        "url": "https://h.example/x",
                        "severities": ["info"],
                    }
                ]
            },
            "ops has severities other than critical and warning",
        ),
        ({"monitoring_level": "maximal"}, "value of monitoring_level must be one of"),
        ({"monitoring_alert_for": {"InstanceDown": "soon"}}, "must be Prometheus durations"),
        (
            {"monitoring_blackbox_targets": [{"name": "site", "url": "lb1/health"}]},
            "monitoring_blackbox_targets: site needs a name, an http:// or https:// url",
        ),
        (
            {"monitoring_grafana_enabled": True, "monitoring_grafana_admin_password": ""},
            "monitoring_grafana_enabled needs monitoring_grafana_admin_password",
        ),
    ],
    "monitoring/exporters": [
        (
            {
                "monitoring_postgres_exporter_enabled": True,
                "monitoring_postgres_exporter_db_password": "",
            },
            "monitoring_postgres_exporter_db_password is empty",
        ),
        (
            {
                "monitoring_redis_exporter_enabled": True,
                "monitoring_redis_exporter_redis_password": "",
            },
            "monitoring_redis_exporter_redis_password is empty",
        ),
    ],
}
# A valid app_stack setting that each case above spoils in one place.
APP_STACK = {
    "app_stack_image": "registry.example:5000/slipway/agent-platform",
    "app_stack_release": "1.1.0",
    # The dev inventory (the default, whose group_vars/all localhost gets) sets one.
    "app_stack_initial_release": "",
    "app_stack_database_host": "10.0.0.5",
    "app_stack_redis_host": "10.0.0.5",
    "app_stack_database_password": "not-a-secret",
    "app_stack_redis_password": "not-a-secret",
    "app_stack_api_keys": ["not-a-key"],
}
# What each role's cases start from (each case spoils one thing).
# platform.yml wires the db roles to the host's slipway_address.
DB_BASE = {"slipway_address": "127.0.0.1"}
BASE_VARS = {
    "host_prep": ADMIN_NETWORKS,
    "nginx_tls": BACKENDS,
    "app_stack": APP_STACK,
    "postgres": DB_BASE,
    "redis": DB_BASE,
    "postgres_backup": DB_BASE,
    # The dev inventory's receivers (the lab's webhook) would pass: none unless a case sets them.
    "monitoring": {"monitoring_alert_receivers": [], "monitoring_grafana_enabled": False},
}
CASES = [
    pytest.param(role, i, role_vars, expected, id=f"{role}-{i}")
    for role, cases in BAD_INPUT.items()
    for i, (role_vars, expected) in enumerate(cases)
]


# The rescue reports the failed task and its message (a looped check's, too).
REPORT = {
    "task": "{{ ansible_failed_task.name }}",
    "msg": "{{ (ansible_failed_result.results | default([]) | selectattr('failed', 'defined')"
    " | selectattr('failed') | map(attribute='msg') | list"
    " + [ansible_failed_result.msg]) | first }}",
}


def rescued_failures(workdir, plays: dict[str, tuple[dict, dict]]) -> dict[str, dict]:
    """Run {name: (include_role arguments, vars)}, one play each against localhost in
    a single ansible-playbook run, and return {name: {task, msg}} of each failure
    (the json callback's output). Nothing may have changed."""
    playbook = [
        {
            "name": name,
            "hosts": "localhost",
            "gather_facts": False,
            "vars": play_vars,
            "tasks": [
                {
                    "block": [{"ansible.builtin.include_role": include}],
                    "rescue": [{"ansible.builtin.debug": {"msg": REPORT}}],
                }
            ],
        }
        for name, (include, play_vars) in plays.items()
    ]
    path = workdir / "plays.yml"
    path.write_text(json.dumps(playbook))
    env = ansible_env(ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json")
    result = run(["ansible-playbook", str(path)], env=env)
    assert result.returncode == 0, result.stdout
    # The JSON document, between profile_tasks' timing lines.
    report, _ = json.JSONDecoder().raw_decode(result.stdout[result.stdout.index("{") :])
    assert report["stats"]["localhost"]["changed"] == 0
    return {
        play["play"]["name"]: play["tasks"][-1]["hosts"]["localhost"]["msg"]
        for play in report["plays"]
    }


@pytest.fixture(scope="module")
def bad_input_failures(tmp_path_factory) -> dict[str, dict]:
    """{case id: {task, msg}} from one run over every case."""
    plays = {}
    for role, cases in BAD_INPUT.items():
        # "role/entry": the role's tasks_from entry point.
        name, _, entry = role.partition("/")
        include = {"name": f"slipway.ops.{name}", **({"tasks_from": entry} if entry else {})}
        for i, (role_vars, _) in enumerate(cases):
            plays[f"{role}-{i}"] = (include, {**BASE_VARS.get(name, {}), **role_vars})
    return rescued_failures(tmp_path_factory.mktemp("bad-input"), plays)


@pytest.mark.parametrize(("role", "index", "role_vars", "expected"), CASES)
def test_roles_refuse_bad_input_in_preflight(bad_input_failures, role, index, role_vars, expected):
    failure = bad_input_failures[f"{role}-{index}"]
    task, message = failure["task"], " ".join(failure["msg"].split())
    assert expected in message, message
    # Argument-spec validation or a preflight check: nothing after them ran.
    assert task.startswith(("Check", "Fail", "Validating arguments")), task


# drain.yml refuses, before any change, what would break the site or name
# nothing it knows, in its one task: the module's message and the role's fix;
# one play per case against a state directory made here.
DRAIN_CASES = {
    "unnamed": ({"nginx_tls_drain_host": ""}, "nginx_tls_drain_host is empty: name the backend"),
    "unconverged": (
        {"nginx_tls_drain_host": "app1"},
        "nothing records its backends. Nothing was changed. Run the role on it first (site.yml).",
    ),
    "unknown": (
        {"nginx_tls_drain_host": "app9"},
        "app9 is not a backend of this load balancer (its backends: app1, app2). "
        "Nothing was changed. Name an app host of the inventory in nginx_tls_drain_host",
    ),
    "last": (
        {"nginx_tls_drain_host": "app1"},
        "Draining app1 would leave no backend in rotation (drained already: app2). "
        "Nothing was changed. Undrain another first, or set nginx_tls_drain_force=true",
    ),
    "bad weight": (
        {"nginx_tls_drain_host": "app1", "nginx_tls_undrain_weight": "half"},
        "nginx_tls_undrain_weight must be a whole percentage of a full backend's weight (1-100), "
        "got half",
    ),
}


@pytest.fixture(scope="module")
def drain_failures(tmp_path_factory) -> dict[str, dict]:
    state = tmp_path_factory.mktemp("nginx_tls_state")
    backends = [{"name": "app1", "address": "10.0.0.21"}, {"name": "app2", "address": "10.0.0.22"}]
    (state / "backends.json").write_text(json.dumps({"backends": backends, "default_port": 8000}))
    (state / "drained.json").write_text(json.dumps(["app2"]))
    include = {"name": "slipway.ops.nginx_tls", "tasks_from": "drain"}
    plays = {
        case: (
            include,
            {
                **role_vars,
                "nginx_tls_state_dir": str(
                    state.parent / "none" if case == "unconverged" else state
                ),
            },
        )
        for case, (role_vars, _) in DRAIN_CASES.items()
    }
    failures = rescued_failures(tmp_path_factory.mktemp("drain"), plays)
    assert json.loads((state / "drained.json").read_text()) == ["app2"]
    return failures


@pytest.mark.parametrize("case", sorted(DRAIN_CASES))
def test_drain_refuses_before_any_change(drain_failures, case):
    failure = drain_failures[case]
    message = " ".join(failure["msg"].split())
    assert DRAIN_CASES[case][1] in message, message
    assert failure["task"].startswith("Change the backend's rotation"), failure["task"]


# app_stack's fingerprint (tasks_from digest): a deploy switches the release alone
# where it matches the host's (docs/deploy.md, "The switch fast path"), so it must
# move with every setting the role writes on the host, and not with the release.
DIGEST_CASES = {
    "base": {},
    "another release": {"app_stack_release": "1.2.0"},
    "a log level": {"app_stack_log_level": "debug"},
    "a rotated key": {"app_stack_api_keys": ["another-key"]},
    "a database password": {"app_stack_database_password": "another-secret"},
    "more workers": {"app_stack_worker_replicas": 3},
    "no watchdog": {"app_stack_watchdog": False},
    "another image": {"app_stack_image": "registry.example:5000/slipway/other"},
}


@pytest.fixture(scope="module")
def digests(tmp_path_factory) -> dict[str, str]:
    playbook = [
        {
            "name": name,
            "hosts": "localhost",
            "gather_facts": False,
            "vars": {**APP_STACK, **case_vars},
            "tasks": [
                {
                    "ansible.builtin.include_role": {
                        "name": "slipway.ops.app_stack",
                        "tasks_from": "digest",
                    }
                },
                {"ansible.builtin.debug": {"msg": "{{ __app_stack_config_digest }}"}},
            ],
        }
        for name, case_vars in DIGEST_CASES.items()
    ]
    path = tmp_path_factory.mktemp("digest") / "plays.yml"
    path.write_text(json.dumps(playbook))
    result = run(["ansible-playbook", str(path)], env=ansible_env(ANSIBLE_STDOUT_CALLBACK="json"))
    assert result.returncode == 0, result.stdout
    report, _ = json.JSONDecoder().raw_decode(result.stdout[result.stdout.index("{") :])
    assert "not-a-secret" not in result.stdout
    return {
        play["play"]["name"]: play["tasks"][-1]["hosts"]["localhost"]["msg"]
        for play in report["plays"]
    }


def test_the_fingerprint_ignores_the_release_and_moves_with_every_setting_written(digests):
    assert re.fullmatch("[0-9a-f]{64}", digests["base"]), digests
    assert digests["another release"] == digests["base"]
    changed = {name for name, digest in digests.items() if digest != digests["base"]}
    assert changed == set(DIGEST_CASES) - {"base", "another release"}
    assert len(set(digests.values())) == len(DIGEST_CASES) - 1
