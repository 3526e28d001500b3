# Copyright: Slipway maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The verification suite's options, written once: the module's argument spec, and the
defaults a caller that is not the module (run_suite from a test, the Kubernetes
target) gets for what it leaves out. The module's DOCUMENTATION says the same; a unit
test and ansible-test's validate-modules keep the two equal."""

from __future__ import annotations

import copy

LEVELS = ("basic", "standard", "strict")
SEVERITIES = ("critical", "high", "medium", "low", "info")

ARGUMENT_SPEC = {
    "base_url": {"type": "str", "default": "http://127.0.0.1:8000"},
    "server_name": {"type": "str", "default": ""},
    "validate_certs": {"type": "bool", "default": True},
    "ca_path": {"type": "path", "default": ""},
    "api_key": {"type": "str", "default": "", "no_log": True},
    "validation_level": {
        "type": "str",
        "default": "standard",
        "choices": list(LEVELS),
    },
    "scope": {"type": "str", "default": "host", "choices": ["host", "fleet"]},
    "checks": {"type": "list", "elements": "str", "default": []},
    "skip": {"type": "list", "elements": "str", "default": []},
    "fail_on": {
        "type": "list",
        "elements": "str",
        "default": ["critical"],
        "choices": list(SEVERITIES),
    },
    "severities": {"type": "dict", "default": {}},
    "timeout": {"type": "float", "default": 10},
    "expected_release": {"type": "str", "default": ""},
    "task_timeout": {"type": "float", "default": 30},
    "golden_release": {"type": "str", "default": ""},
    "golden_timeout": {"type": "float", "default": 30},
    "performance": {
        "type": "dict",
        "default": {},
        "options": {
            "requests": {"type": "int", "default": 50},
            "concurrency": {"type": "int", "default": 4},
            "path": {"type": "str", "default": "/health"},
            "p95_ms": {"type": "float", "default": 500},
            "error_rate": {"type": "float", "default": 0.01},
            "confirm": {"type": "bool", "default": False},
        },
    },
    "database": {
        "type": "dict",
        "default": {},
        "options": {
            "host": {"type": "str", "default": ""},
            "port": {"type": "int", "default": 5432},
        },
    },
    "security": {
        "type": "dict",
        "default": {},
        "options": {
            "tls": {"type": "str", "default": "auto", "choices": ["auto", "true", "false"]},
            "required_headers": {
                "type": "list",
                "elements": "str",
                "default": ["Strict-Transport-Security", "X-Content-Type-Options"],
            },
            "debug_paths": {
                "type": "list",
                "elements": "str",
                "default": ["/docs", "/redoc", "/openapi.json", "/debug", "/debug/vars"],
            },
            "cert_min_days": {"type": "int", "default": 14},
        },
    },
    "integrations": {
        "type": "list",
        "elements": "dict",
        "default": [],
        "options": {
            "name": {"type": "str", "required": True},
            "url": {"type": "str", "required": True},
            "status": {"type": "list", "elements": "int", "default": [200]},
        },
    },
    "monitoring": {
        "type": "dict",
        "default": {},
        "options": {
            "prometheus_url": {"type": "str", "default": ""},
            "job": {"type": "str", "default": ""},
            "instance": {"type": "str", "default": ""},
        },
    },
    "rollback": {
        "type": "dict",
        "default": {},
        "options": {
            "previous_release": {"type": "str", "default": ""},
            "image": {"type": "str", "default": ""},
            "docker_socket": {"type": "path", "default": "/var/run/docker.sock"},
        },
    },
    "backup": {
        "type": "dict",
        "default": {},
        "options": {
            "last_success_timestamp": {"type": "raw", "default": 0},
            "metric": {"type": "str", "default": ""},
            "max_age_hours": {"type": "float", "default": 26},
        },
    },
}


def _defaults(spec: dict) -> dict:
    """Each option's default; a dict option with suboptions, its suboptions' defaults."""
    out = {}
    for name, option in spec.items():
        if option["type"] == "dict" and "options" in option:
            out[name] = _defaults(option["options"])
        else:
            out[name] = option.get("default")
    return out


DEFAULTS = _defaults(ARGUMENT_SPEC)


def with_defaults(params: dict) -> dict:
    """params over DEFAULTS, one level deep into the dict options; None means default."""
    merged = copy.deepcopy(DEFAULTS)
    for name, value in params.items():
        if value is None:
            continue
        if isinstance(merged.get(name), dict) and isinstance(value, dict) and name != "severities":
            merged[name].update({k: v for k, v in value.items() if v is not None})
        else:
            merged[name] = value
    return merged
