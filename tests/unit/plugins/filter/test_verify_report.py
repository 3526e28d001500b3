"""verify_report: the lines an operator reads after a verification."""

from __future__ import annotations

from ansible_collections.slipway.ops.plugins.filter.verify_report import verify_report


def test_each_check_gets_a_line_and_the_verdict_closes():
    result = {
        "verdict": "failed",
        "validation_level": "standard",
        "summary": {"passed": 1, "failed": 1, "skipped": 1},
        "results": [
            {
                "test_name": "health",
                "severity": "critical",
                "passed": True,
                "skipped": False,
                "message": "200",
                "execution_time": 0.01,
            },
            {
                "test_name": "api_endpoints",
                "severity": "critical",
                "passed": False,
                "skipped": False,
                "message": "task never completed within 30 s",
                "execution_time": 30.2,
            },
            {
                "test_name": "monitoring",
                "severity": "medium",
                "passed": True,
                "skipped": True,
                "message": "not configured",
                "execution_time": 0,
            },
        ],
    }
    assert verify_report(result) == [
        "PASS health (critical, 0.0 s): 200",
        "FAIL api_endpoints (critical, 30.2 s): task never completed within 30 s",
        "SKIP monitoring (medium, 0.0 s): not configured",
        "FAILED at level standard: 1 passed, 1 failed, 1 skipped",
    ]


def test_a_result_without_checks_says_why():
    assert verify_report({"failed": True, "msg": "unsupported parameter"}) == [
        "unsupported parameter"
    ]
    assert verify_report({}) == ["no check ran"]
