"""verify.yml on the lab (after site.yml and deploy-e2e): the suite on demand at
the strict level, each app host and then the fleet through lb1, every check
against the real platform, Prometheus on mon1 and db1's pgBackRest metrics."""

from __future__ import annotations

import re

import pytest

from tests.conftest import ansible_env, run

pytestmark = pytest.mark.usefixtures("lab_hosts")


def verify(*extra: str):
    # JSON results: each report line whole on one line, never folded.
    return run(
        ["ansible-playbook", "verify.yml", "-i", "inventories/dev", *extra],
        env=ansible_env(ANSIBLE_CALLBACK_RESULT_FORMAT="json"),
        timeout=600,
    )


def lines(output: str, word: str) -> dict[str, str]:
    """{check: its message} from the report lines that start with word (PASS, FAIL, SKIP)."""
    return dict(re.findall(rf'"{word} (\w+) \(\w+, [0-9.]+ s\): ([^"]*)"', output))


@pytest.fixture(scope="module")
def strict():
    return verify("-e", "slipway_validation_level=strict")


def test_strict_verification_passes_every_check_it_runs(strict):
    assert strict.returncode == 0, strict.stdout[-3000:]
    assert lines(strict.stdout, "FAIL") == {}
    passed = lines(strict.stdout, "PASS")
    # Per host and through lb1: the checks that prove the platform works.
    assert {
        "health",
        "service_availability",
        "database_connectivity",
        "api_endpoints",
        "performance_baseline",
        "security_posture",
        "monitoring",
        "backup_freshness",
    } <= set(passed), strict.stdout[-3000:]
    assert strict.stdout.count("PASSED at level strict") == 3  # app1, app2, the fleet


def test_backup_freshness_reads_db1s_last_backup_from_prometheus(strict):
    message = lines(strict.stdout, "PASS")["backup_freshness"]
    assert re.fullmatch(r"last good backup [0-9.]+ h ago \(limit 26 h\)", message), message


def test_a_stale_backup_is_reported_and_below_fail_on_the_run_passes():
    """A limit of 0.36 s: the lab's last backup is older. backup_freshness is
    medium, below verify.yml's fail_on (critical): it fails, the run passes."""
    result = verify(
        "-e",
        "slipway_validation_level=strict",
        "-e",
        "slipway_verify_backup_max_age_hours=0.0001",
        "--limit",
        "app1",
    )
    assert result.returncode == 0, result.stdout[-3000:]
    failed = lines(result.stdout, "FAIL")
    assert set(failed) == {"backup_freshness"}, result.stdout[-3000:]
    message = failed["backup_freshness"]
    assert re.fullmatch(r"last good backup [0-9.]+ h ago, over the 0.0001 h limit", message)
    # The fleet's verdict: passed, with the one failure below fail_on counted.
    assert re.search(r"PASSED at level strict: \d+ passed, 1 failed", result.stdout)
