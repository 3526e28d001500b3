"""The Prometheus condition: parsing, judging, and queries to an HTTP server on 127.0.0.1.

The server answers with bodies in the shape of Prometheus' /api/v1/query
(https://prometheus.io/docs/prometheus/latest/querying/api/); no Prometheus
runs here (the lab's arrives with the monitoring role).
"""

from __future__ import annotations

import json
import urllib.parse

import pytest
from ansible_collections.slipway.ops.plugins.module_utils._gate_policy import PERFORMANCE
from ansible_collections.slipway.ops.plugins.module_utils._gate_prometheus import (
    check,
    judge,
    parse_condition,
    values,
)

QUERY = 'sum(rate(slipway_http_requests_total{status=~"5.."}[1m]))'


def vector(*series) -> str:
    result = [{"metric": labels, "value": [1700000000.0, str(value)]} for labels, value in series]
    return json.dumps({"status": "success", "data": {"resultType": "vector", "result": result}})


def settings(url: str, **extra) -> dict:
    return {"url": url, "query": QUERY, "condition": "< 0.05", "empty_ok": False, **extra}


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("< 0.05", ("<", 0.05)),
        (">=3", (">=", 3.0)),
        (" == 1e-3 ", ("==", 0.001)),
        ("!= 0", ("!=", 0)),
    ],
)
def test_conditions_parse(text, parsed):
    assert parse_condition(text) == parsed


@pytest.mark.parametrize("text", ["0.05", "< x", "<< 1", "", "~ 1"])
def test_a_bad_condition_names_the_form(text):
    with pytest.raises(ValueError, match=r"want an operator \(<, <=, >, >=, ==, !=\) and a number"):
        parse_condition(text)


def test_every_series_must_meet_the_condition_and_nan_never_does():
    assert judge([("", 0.01)], "< 0.05", False) == ""
    assert judge([('{route="/a"}', 0.01), ('{route="/b"}', 0.2)], "< 0.05", False) == (
        'value 0.2 for {route="/b"} is not < 0.05'
    )
    assert judge([("", float("nan"))], "!= 1", False) == "value nan is not != 1"
    assert judge([], "< 0.05", True) == ""
    assert judge([], "< 0.05", False) == "the query returned no series (empty_ok is false)"


def test_scalar_results_count_and_matrices_are_refused():
    assert values({"resultType": "scalar", "result": [1.0, "2.5"]}) == [("", 2.5)]
    with pytest.raises(ValueError, match="a matrix result"):
        values({"resultType": "matrix", "result": []})


def test_a_query_that_meets_the_condition_passes_and_is_sent_encoded(target):
    target.script((200, vector(({}, 0.01))))
    outcome = check(settings(target.url("")))
    assert (outcome.ok, outcome.check, outcome.error) == (True, "prometheus", "")
    path, _ = target.hits[0]
    assert path.startswith("/api/v1/query?")
    assert urllib.parse.parse_qs(path.split("?", 1)[1])["query"] == [QUERY]


def test_a_breach_fails_with_the_value_and_the_chosen_trigger(target):
    target.script((200, vector(({}, 0.5))))
    outcome = check(settings(target.url(""), trigger=PERFORMANCE))
    assert not outcome.ok
    assert outcome.trigger == PERFORMANCE
    assert outcome.error == f"{QUERY}: value 0.5 is not < 0.05"


def test_an_empty_result_fails_unless_empty_ok(target):
    target.script((200, vector()))
    assert "no series" in check(settings(target.url(""))).error
    assert check(settings(target.url(""), empty_ok=True)).ok


def test_a_bad_query_says_what_prometheus_said(target):
    said = {"status": "error", "errorType": "bad_data", "error": "parse error at char 5"}
    target.script((400, json.dumps(said)))
    outcome = check(settings(target.url("")))
    assert outcome.error == "query failed: HTTP 400: parse error at char 5"


def test_an_unreachable_server_is_a_failed_sample(closed_port):
    outcome = check(settings(closed_port, timeout=1))
    assert not outcome.ok
    assert outcome.error.startswith("query failed: ")
    assert "refused" in outcome.error.lower()
