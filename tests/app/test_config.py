"""Configuration and the built-in agent, without servers: errors name the variable and the fix."""

from __future__ import annotations

import subprocess
import sys

import pytest

from .servers import APP_DIR

sys.path.insert(0, str(APP_DIR))

from agent_platform.agents import AgentError, calculate, run_toolbox, text_stats
from agent_platform.settings import Settings, SettingsError

GOOD = {"DATABASE_URL": "postgresql://u:p@db1:5432/agents", "REDIS_URL": "redis://db1:6379/0"}


def test_defaults_and_url_normalisation():
    s = Settings.from_env(GOOD, baked={})
    assert s.database_url == "postgresql+psycopg://u:p@db1:5432/agents"
    assert (s.release, s.port, s.rate_limit_per_minute, s.faults.active()) == (
        "dev",
        8000,
        1200,
        {},
    )


def test_a_baked_release_file_is_read_and_the_environment_wins():
    baked = {"PLATFORM_RELEASE": "1.1.0-bad", "PLATFORM_FAULT_NEVER_READY": "1"}
    s = Settings.from_env({**GOOD, "PLATFORM_RELEASE": "override"}, baked=baked)
    assert s.release == "override"
    assert s.faults.never_ready is True


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"REDIS_URL": "redis://x"}, "DATABASE_URL is not set; set it to postgresql://"),
        ({**GOOD, "DATABASE_URL": "mysql://x"}, "DATABASE_URL must start with postgresql://"),
        ({**GOOD, "REDIS_URL": "http://x"}, "REDIS_URL must start with redis://"),
        ({**GOOD, "PLATFORM_PORT": "70000"}, "PLATFORM_PORT=70000 is out of range"),
        ({**GOOD, "PLATFORM_PORT": "http"}, "PLATFORM_PORT='http' is not an integer"),
        (
            {**GOOD, "PLATFORM_API_KEY_SHA256": "secret"},
            "PLATFORM_API_KEY_SHA256 holds a value that is not a SHA-256",
        ),
        ({**GOOD, "PLATFORM_LOG_LEVEL": "loud"}, "PLATFORM_LOG_LEVEL='LOUD' is not a level"),
        (
            {**GOOD, "PLATFORM_HEARTBEAT_SECONDS": "5", "PLATFORM_WORKER_DEAD_AFTER_SECONDS": "5"},
            "PLATFORM_WORKER_DEAD_AFTER_SECONDS must be greater than",
        ),
        (
            {**GOOD, "PLATFORM_FAULT_LATENCY_MS": "-1"},
            "PLATFORM_FAULT_LATENCY_MS=-1 is out of range",
        ),
    ],
)
def test_bad_settings_name_the_variable(env, message):
    with pytest.raises(SettingsError, match=message.replace("(", r"\(").replace("+", r"\+")):
        Settings.from_env(env, baked={})


def test_the_cli_exits_2_with_the_message_and_touches_nothing():
    done = subprocess.run(
        [sys.executable, "-m", "agent_platform", "worker"],
        env={"PATH": "/usr/bin:/bin", "REDIS_URL": "redis://127.0.0.1:1/0"},
        cwd=APP_DIR,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.startswith("agent-platform: configuration error: DATABASE_URL is not set")


def test_keygen_prints_a_key_and_its_digest():
    import hashlib

    done = subprocess.run(
        [sys.executable, "-m", "agent_platform", "keygen"],
        cwd=APP_DIR,
        capture_output=True,
        text=True,
        check=True,
    )
    key = done.stdout.splitlines()[0].rsplit(" ", 1)[1]
    digest = done.stdout.splitlines()[1].rsplit(" ", 1)[1]
    assert hashlib.sha256(key.encode()).hexdigest() == digest


@pytest.mark.parametrize(
    ("expression", "value"),
    [("1 + 2 * 3", 7), ("(1 + 2) * 3", 9), ("-2 ** 3", -8), ("7 // 2 + 7 % 2", 4)],
)
def test_calculator(expression, value):
    assert calculate(expression) == value


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("__import__('os').system('id')", "is not arithmetic"),
        ("2 ** 1000", "exponents above 64 are refused"),
        ("1 / 0", "division by zero"),
        ("x" * 300, "longer than 200 characters"),
    ],
)
def test_calculator_refuses_what_is_not_arithmetic(expression, message):
    with pytest.raises(AgentError, match=message):
        calculate(expression)


def test_toolbox_routes_prompts_and_records_steps():
    assert run_toolbox({}, {"prompt": "stats: to be or not to be"})["output"]["top_words"] == [
        "to",
        "be",
        "or",
    ]
    assert run_toolbox({}, {"prompt": "hello"}) == {
        "output": "hello",
        "steps": [{"tool": "echo", "input": "hello", "output": "hello"}],
    }
    assert text_stats("") == {"characters": 0, "words": 0, "lines": 0, "top_words": []}
    with pytest.raises(AgentError, match="unknown tool 'rm'"):
        run_toolbox({}, {"tool": "rm"})
    with pytest.raises(AgentError, match="between 0 and 30 seconds"):
        run_toolbox({}, {"tool": "wait", "input": 31})
