# Copyright: Slipway maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The health gate's Prometheus condition: an instant query and a comparison.

The condition is an operator and a number (`< 0.05`). Every series of a vector
result must meet it; an empty result fails unless empty_ok (a rate over a
counter nobody has incremented yet is empty, not zero).
"""

from __future__ import annotations

import json
import math
import operator
import re
import ssl
import urllib.error
import urllib.parse

from ansible.module_utils.urls import Request
from ansible_collections.slipway.ops.plugins.module_utils._gate_policy import HEALTH, Outcome

OPERATORS = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}
_CONDITION = re.compile(r"^\s*(<=|>=|==|!=|<|>)\s*(\S+)\s*$")


def parse_condition(text: str) -> tuple[str, float]:
    """'< 0.05' -> ('<', 0.05); ValueError naming the expected form otherwise."""
    match = _CONDITION.match(text or "")
    if match:
        try:
            return match.group(1), float(match.group(2))
        except ValueError:
            pass
    raise ValueError(
        f"prometheus.condition {text!r}: want an operator (<, <=, >, >=, ==, !=) and a number, "
        "e.g. '< 0.05'"
    )


def values(data: dict) -> list[tuple[str, float]]:
    """(series labels, value) pairs from a query's `data` (vector or scalar)."""
    kind, result = data.get("resultType"), data.get("result")
    if kind == "scalar":
        return [("", float(result[1]))]
    if kind == "vector":
        pairs = []
        for series in result:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(series.get("metric", {}).items()))
            pairs.append((f"{{{labels}}}" if labels else "", float(series["value"][1])))
        return pairs
    raise ValueError(f"a {kind} result; the gate wants an instant vector or a scalar")


def judge(pairs: list[tuple[str, float]], condition: str, empty_ok: bool) -> str:
    """'' when every value meets the condition, else why not."""
    op, bound = parse_condition(condition)
    if not pairs:
        return "" if empty_ok else "the query returned no series (empty_ok is false)"
    for labels, value in pairs:
        if math.isnan(value) or not OPERATORS[op](value, bound):
            return f"value {value:g}{' for ' + labels if labels else ''} is not {op} {bound:g}"
    return ""


def query(
    url: str,
    promql: str,
    timeout: float = 5.0,
    context: ssl.SSLContext | None = None,
    at: float | None = None,
) -> dict:
    """The `data` of an instant query (at epoch seconds `at`, else now); RuntimeError
    saying why not."""
    params = {"query": promql} if at is None else {"query": promql, "time": f"{at:.3f}"}
    endpoint = url.rstrip("/") + "/api/v1/query?" + urllib.parse.urlencode(params)
    if not endpoint.startswith(("http://", "https://")):
        raise RuntimeError(f"not an http(s) URL: {url}")
    try:
        with Request().open("GET", endpoint, timeout=timeout, context=context) as response:
            body = json.loads(response.read())
    except urllib.error.HTTPError as error:
        # Prometheus answers 400/422 with a JSON error for a bad query.
        try:
            said = json.loads(error.read()).get("error", "")
        except ValueError:
            said = ""
        raise RuntimeError(f"HTTP {error.code}{': ' + said if said else ''}") from error
    except (OSError, ValueError) as error:
        raise RuntimeError(str(getattr(error, "reason", error))) from error
    if body.get("status") != "success":
        raise RuntimeError(body.get("error", "the query did not succeed"))
    return body["data"]


def check(settings: dict, context: ssl.SSLContext | None = None) -> Outcome:
    """One sample of the Prometheus condition."""
    url = settings["url"]
    try:
        data = query(url, settings["query"], settings.get("timeout") or 5.0, context)
        problem = judge(values(data), settings["condition"], bool(settings.get("empty_ok")))
    except (RuntimeError, ValueError, KeyError, IndexError, TypeError) as error:
        return Outcome("prometheus", url, False, error=f"query failed: {error}")
    if problem:
        error = f"{settings['query']}: {problem}"
        return Outcome(
            "prometheus", url, False, error=error, trigger=settings.get("trigger") or HEALTH
        )
    return Outcome("prometheus", url, True)
