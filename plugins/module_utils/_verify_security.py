# Copyright: Slipway maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The verification suite's security_posture check: TLS (protocol, legacy versions,
the certificate's validity), the required response headers, authentication on the
writing routes, and debug paths left exposed. Standard library only: the module
runs on the target hosts."""

from __future__ import annotations

import contextlib
import socket
import ssl
import tempfile
import time
import uuid
import warnings

from ansible_collections.slipway.ops.plugins.module_utils import _verify_suite as suite
from ansible_collections.slipway.ops.plugins.module_utils._verify_http import (
    Endpoint,
    describe,
)
from ansible_collections.slipway.ops.plugins.module_utils._verify_suite import failed, passed


def certificate_fields(der: bytes) -> dict:
    """The decoded certificate (as getpeercert() gives it), from its DER form.
    Used when the certificate was not verified: getpeercert() is then empty."""
    pem = ssl.DER_cert_to_PEM_cert(der)
    with tempfile.NamedTemporaryFile("w", suffix=".pem") as handle:
        handle.write(pem)
        handle.flush()
        return ssl._ssl._test_decode_cert(handle.name)  # the stdlib's only DER parser


def tls_probe(ep: Endpoint) -> dict:
    """Handshake with the endpoint's trust settings: protocol, cipher, certificate."""
    # Not a parenthesised `with`: that needs Python 3.9, and targets run 3.8.
    raw = socket.create_connection((ep.host, ep.port), timeout=float(ep.timeout))
    with raw, ep.context.wrap_socket(raw, server_hostname=ep.server_name) as tls:
        der = tls.getpeercert(binary_form=True)
        cert = tls.getpeercert() or (certificate_fields(der) if der else {})
        return {"protocol": tls.version(), "cipher": tls.cipher()[0], "cert": cert}


def legacy_tls_accepted(ep: Endpoint) -> bool | None:
    """Whether the server completes a TLS 1.0/1.1 handshake; None when this
    host's OpenSSL cannot even offer it (then nothing is known)."""
    try:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE  # only the protocol is probed
        with contextlib.suppress(ValueError, ssl.SSLError):
            context.set_ciphers("DEFAULT:@SECLEVEL=0")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            context.minimum_version = ssl.TLSVersion.TLSv1
            context.maximum_version = ssl.TLSVersion.TLSv1_1
    except (ValueError, ssl.SSLError):
        return None
    try:
        raw = socket.create_connection((ep.host, ep.port), timeout=float(ep.timeout))
        with raw, context.wrap_socket(raw, server_hostname=ep.server_name):
            return True
    except ssl.SSLError as error:
        if "NO_PROTOCOLS_AVAILABLE" in str(error).upper().replace(" ", "_"):
            return None
        return False
    except OSError:
        return False  # a reset or close during the handshake is a refusal


def _tls_findings(ep: Endpoint, sec: dict, metrics: dict) -> list[str]:
    try:
        probe = tls_probe(ep)
    except OSError as error:
        return [f"TLS handshake with {ep.host}:{ep.port} as {ep.server_name}: {describe(error)}"]
    findings = []
    metrics.update(tls_protocol=probe["protocol"], tls_cipher=probe["cipher"])
    if probe["protocol"] not in ("TLSv1.2", "TLSv1.3"):
        findings.append(f"negotiated {probe['protocol']}, below TLSv1.2")
    legacy = legacy_tls_accepted(ep)
    metrics["legacy_tls_accepted"] = legacy
    if legacy:
        findings.append("accepts TLS 1.0/1.1")
    not_after = probe["cert"].get("notAfter")
    if not_after:
        days = (ssl.cert_time_to_seconds(not_after) - time.time()) / 86400
        metrics.update(cert_not_after=not_after, cert_days_left=round(days, 1))
        if days < float(sec["cert_min_days"]):
            findings.append(
                f"certificate expires in {days:.1f} days "
                f"(under cert_min_days {sec['cert_min_days']})"
            )
    metrics["cert_verified"] = bool(ep.validate_certs)
    return findings


def _header_findings(ep: Endpoint, sec: dict, metrics: dict) -> list[str]:
    try:
        reply = ep.request("GET", "/health")
    except OSError as error:
        return [f"GET /health: {describe(error)}"]
    missing = [h for h in sec["required_headers"] if h.lower() not in reply.headers]
    metrics["missing_headers"] = missing
    return [f"missing header(s) {', '.join(missing)}"] if missing else []


def _auth_findings(ep: Endpoint, metrics: dict) -> list[str]:
    # A well-formed body: only a missing key check can make it fail, and if the
    # platform creates the agent anyway we say so and delete it.
    body = {"name": f"slipway-verify-noauth-{uuid.uuid4().hex[:8]}", "type": "toolbox"}
    try:
        reply = ep.request("POST", "/v1/agents", body)
    except OSError as error:
        return [f"POST /v1/agents without a key: {describe(error)}"]
    metrics["unauthenticated_post_status"] = reply.status
    if reply.status == 401:
        return []
    if 200 <= reply.status < 300:
        agent_id = (reply.json() or {}).get("id")
        if agent_id and ep.api_key:
            with contextlib.suppress(OSError):
                ep.request("DELETE", f"/v1/agents/{agent_id}", key=True)
        return [
            f"POST /v1/agents without a key CREATED an agent ({reply.status}): no authentication"
        ]
    return [f"POST /v1/agents without a key answered {reply.status}, not 401"]


def _debug_findings(ep: Endpoint, sec: dict, metrics: dict) -> list[str]:
    answers, exposed = {}, []
    for path in sec["debug_paths"]:
        try:
            status = ep.request("GET", path).status
        except OSError as error:
            status = describe(error)
        answers[path] = status
        if isinstance(status, int) and 200 <= status < 300:
            exposed.append(f"{path} ({status})")
    metrics["debug_paths"] = answers
    return [f"debug endpoint(s) exposed: {', '.join(exposed)}"] if exposed else []


def check_security_posture(ep: Endpoint, opts: dict, check_mode: bool) -> suite.Outcome:
    sec = opts["security"]
    tls = str(sec["tls"]).lower()
    metrics: dict = {}
    findings: list[str] = []
    notes: list[str] = []
    if tls in ("true", "yes", "on") and not ep.https:
        findings.append(f"security.tls is true but {ep.base_url} is plaintext http")
    elif tls in ("false", "no", "off"):
        notes.append("TLS not checked (security.tls: false)")
    elif not ep.https:
        notes.append("TLS not checked: base_url is plaintext http")
    else:
        findings += _tls_findings(ep, sec, metrics)
    findings += _header_findings(ep, sec, metrics)
    findings += _auth_findings(ep, metrics)
    findings += _debug_findings(ep, sec, metrics)
    if findings:
        return failed("; ".join(findings + notes), **metrics)
    parts = []
    if "tls_protocol" in metrics:
        parts.append(
            f"{metrics['tls_protocol']}, certificate {metrics['cert_days_left']:.0f} days left"
        )
    parts += ["security headers present", "mutations need a key", "no debug endpoint", *notes]
    return passed("; ".join(parts), **metrics)
