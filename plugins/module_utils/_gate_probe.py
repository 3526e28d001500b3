# Copyright: Slipway maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One HTTP probe of the health gate: status, JSON fields, latency.

http.client, not urllib: no proxy from the environment (a health check of
127.0.0.1 must not go through one) and no redirect followed (a 301 from a
health endpoint is an answer to judge, not to chase).
"""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import time
import urllib.parse

from ansible_collections.slipway.ops.plugins.module_utils._gate_policy import Outcome

# What is read of a body, and what of it a failure quotes.
BODY_READ_MAX = 64 * 1024
BODY_QUOTE_MAX = 200
_MISSING = object()


def ssl_context(validate_certs: bool = True, ca_path: str = "") -> ssl.SSLContext:
    """The context for https checks: the system's CAs, or ca_path's, or no validation."""
    if not validate_certs:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    return ssl.create_default_context(cafile=ca_path or None)


def dotted(document, path: str):
    """document's value at a dotted path ("a.b.0.c"; numbers index lists); _MISSING if none."""
    value = document
    for part in path.split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif (
            isinstance(value, list)
            and part.lstrip("-").isdigit()
            and -len(value) <= int(part) < len(value)
        ):
            value = value[int(part)]
        else:
            return _MISSING
    return value


def same(actual, expected) -> bool:
    """JSON value equality, forgiving YAML's quoting (expected "1" matches 1, "true" true)."""
    if actual == expected and type(actual) is type(expected):
        return True
    if isinstance(expected, str) and not isinstance(actual, str):
        return json.dumps(actual) == expected or str(actual) == expected
    if isinstance(actual, bool) or isinstance(expected, bool):
        return False
    return (
        isinstance(actual, (int, float))
        and isinstance(expected, (int, float))
        and actual == expected
    )


def json_mismatches(body: bytes, expected: dict) -> list[str]:
    """Why body does not hold every expected field ([] when it does)."""
    try:
        document = json.loads(body)
    except ValueError:
        return ["the body is not JSON"]
    problems = []
    for path, want in expected.items():
        got = dotted(document, str(path))
        if got is _MISSING:
            problems.append(f"{path} missing")
        elif not same(got, want):
            problems.append(f"{path} is {json.dumps(got)}, expected {json.dumps(want)}")
    return problems


def quote_body(body: bytes, truncated: bool = False) -> str:
    """A body as a failure quotes it: one line, at most BODY_QUOTE_MAX characters."""
    text = " ".join(body.decode("utf-8", "replace").split())
    if len(text) > BODY_QUOTE_MAX or truncated:
        return text[:BODY_QUOTE_MAX] + " (body truncated)"
    return text


def describe_error(error: BaseException, timeout: float) -> str:
    """A connection failure, said plainly."""
    if isinstance(error, ConnectionRefusedError):
        return "connection refused"
    if isinstance(error, (TimeoutError, socket.timeout)):
        return f"no answer within {timeout:g} s"
    if isinstance(error, socket.gaierror):
        return f"name not resolved ({error.strerror or error})"
    if isinstance(error, ssl.SSLCertVerificationError):
        return f"TLS certificate not trusted: {error.verify_message or error}"
    if isinstance(error, ssl.SSLError):
        return f"TLS error: {error.reason or error}"
    if isinstance(error, ConnectionResetError):
        return "connection reset by the server"
    if isinstance(error, http.client.RemoteDisconnected):
        return "the server closed the connection without answering"
    if isinstance(error, http.client.IncompleteRead):
        return "the server closed the connection in the middle of the body"
    if isinstance(error, OSError) and error.strerror:
        return error.strerror.lower()
    return f"{type(error).__name__}: {error}"


def probe(
    url: str,
    *,
    status: list[int] | None = None,
    expect_json: dict | None = None,
    headers: dict | None = None,
    timeout: float = 5.0,
    context: ssl.SSLContext | None = None,
) -> Outcome:
    """GET url once: ok when the status is one of `status` and every JSON field matches."""
    wanted = status or [200]
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return Outcome("http", url, False, error=f"not an http(s) URL: {url}")
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    if parts.scheme == "https":
        connection = http.client.HTTPSConnection(
            parts.hostname, parts.port, timeout=timeout, context=context or ssl_context()
        )
    else:
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    sent = {"User-Agent": "slipway-health-gate", "Accept": "application/json, */*"}
    sent.update({str(k): str(v) for k, v in (headers or {}).items()})
    started = time.monotonic()
    try:
        connection.request("GET", target, headers=sent)
        response = connection.getresponse()
        body = response.read(BODY_READ_MAX)
        truncated = bool(response.read(1))
    except (OSError, http.client.HTTPException) as error:
        return Outcome(
            "http",
            url,
            False,
            latency_ms=(time.monotonic() - started) * 1000,
            error=describe_error(error, timeout),
        )
    finally:
        connection.close()
    latency_ms = (time.monotonic() - started) * 1000
    code = response.status
    if code not in wanted:
        error = f"{code} {quote_body(body, truncated)}".rstrip()
        return Outcome("http", url, False, code, latency_ms, error)
    if expect_json:
        if truncated:
            return Outcome(
                "http", url, False, code, latency_ms, f"{code}: body over {BODY_READ_MAX} bytes"
            )
        problems = json_mismatches(body, expect_json)
        if problems:
            error = f"{code} but {'; '.join(problems)}: {quote_body(body)}"
            return Outcome("http", url, False, code, latency_ms, error)
    return Outcome("http", url, True, code, latency_ms)
