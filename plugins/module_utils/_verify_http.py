# Copyright: Slipway maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A small HTTP client for the verification suite, standard library only.

It talks to a base URL that may be https://<ip> while the certificate and the
virtual host are another name (server_name: SNI and Host header), to other
URLs (Prometheus, external services) and to the Docker Engine's unix socket.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import ssl
import time
import urllib.parse
from dataclasses import dataclass, field

from ansible_collections.slipway.ops.plugins.module_utils._unix_http import UnixHTTPConnection


@dataclass
class Reply:
    status: int
    headers: dict[str, str]  # names lower-cased
    body: bytes
    elapsed_ms: float
    tls_version: str | None = None
    extra: dict = field(default_factory=dict)

    def json(self):
        try:
            return json.loads(self.body or b"null")
        except ValueError:
            return None

    def reason(self) -> str:
        """The platform's JSON error, else the start of the body."""
        data = self.json()
        if isinstance(data, dict) and data.get("error"):
            return f"HTTP {self.status}: {data['error']}"
        text = self.body[:200].decode(errors="replace").strip()
        return f"HTTP {self.status}" + (f": {text}" if text else "")


def describe(error: BaseException) -> str:
    """An operator's reading of a connection error."""
    if isinstance(error, ssl.SSLCertVerificationError):
        return f"TLS certificate not trusted: {error.verify_message}"
    if isinstance(error, (TimeoutError, socket.timeout)):
        return "timed out"
    if isinstance(error, ConnectionRefusedError):
        return "connection refused"
    if isinstance(error, socket.gaierror):
        return f"name does not resolve: {error.strerror}"
    if isinstance(error, FileNotFoundError):
        return "no such socket" + (f": {error.filename}" if error.filename else "")
    text = str(getattr(error, "reason", "") or error) or type(error).__name__
    return f"{type(error).__name__}: {text}"


def tls_context(validate_certs: bool = True, ca_path: str = "") -> ssl.SSLContext:
    """A client context: verified against ca_path (file or directory) or the system
    store, or not verified at all."""
    if not validate_certs:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE  # the operator asked: validate_certs false
        return context
    if ca_path and os.path.isdir(ca_path):
        return ssl.create_default_context(capath=ca_path)
    return ssl.create_default_context(cafile=ca_path or None)


class _SNIConnection(http.client.HTTPSConnection):
    """HTTPS to an address, with SNI and certificate check for another name."""

    def __init__(self, host, port, sni, context, timeout):
        super().__init__(host, port, timeout=timeout, context=context)
        self._sni = sni

    def connect(self):
        http.client.HTTPConnection.connect(self)
        self.sock = self._context.wrap_socket(self.sock, server_hostname=self._sni)


class Endpoint:
    """A base URL and how to reach it; every request of a check goes through one."""

    def __init__(
        self,
        base_url: str,
        server_name: str = "",
        validate_certs: bool = True,
        ca_path: str = "",
        api_key: str = "",
        timeout: float = 10.0,
    ):
        parts = urllib.parse.urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {base_url!r}")
        self.base_url = base_url
        self.https = parts.scheme == "https"
        self.host = parts.hostname
        self.port = parts.port or (443 if self.https else 80)
        self.prefix = parts.path.rstrip("/")
        self.server_name = server_name or self.host
        self.validate_certs, self.ca_path = validate_certs, ca_path
        self.api_key, self.timeout = api_key, timeout
        self.context = tls_context(validate_certs, ca_path) if self.https else None

    def sibling(self, url: str) -> tuple[Endpoint, str]:
        """Another URL with this endpoint's TLS trust settings (no key, its own name)."""
        parts = urllib.parse.urlsplit(url)
        base = urllib.parse.urlunsplit((parts.scheme, parts.netloc, "", "", ""))
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        return (
            Endpoint(base, "", self.validate_certs, self.ca_path, "", self.timeout),
            path,
        )

    def connection(self, timeout: float) -> http.client.HTTPConnection:
        if self.https:
            return _SNIConnection(self.host, self.port, self.server_name, self.context, timeout)
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout)

    def host_header(self) -> str:
        default = 443 if self.https else 80
        return self.server_name if self.port == default else f"{self.server_name}:{self.port}"

    def request(
        self,
        method: str,
        path: str,
        body: object = None,
        key: bool = False,
        timeout: float | None = None,
    ) -> Reply:
        """One request on a connection of its own. Raises OSError (ssl errors
        included) when no HTTP answer came."""
        headers = {
            "Host": self.host_header(),
            "Accept": "application/json",
            # The run's own: the canary judge's evidence leaves it out (_canary_evidence).
            "User-Agent": "slipway-verify",
        }
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if key and self.api_key:
            headers["X-API-Key"] = self.api_key
        conn = self.connection(timeout or self.timeout)
        began = time.monotonic()
        try:
            conn.request(method, self.prefix + path, body=data, headers=headers)
            response = conn.getresponse()
            payload = response.read()
            version = conn.sock.version() if isinstance(conn.sock, ssl.SSLSocket) else None
            return Reply(
                response.status,
                {name.lower(): value for name, value in response.getheaders()},
                payload,
                (time.monotonic() - began) * 1000,
                version,
            )
        except http.client.HTTPException as error:
            raise ConnectionError(f"bad HTTP answer: {type(error).__name__}") from error
        finally:
            conn.close()


def unix_get(socket_path: str, path: str, timeout: float = 10.0) -> Reply:
    """GET over a unix socket."""
    conn = UnixHTTPConnection(socket_path, timeout)
    began = time.monotonic()
    try:
        conn.request("GET", path, headers={"Host": "localhost"})
        response = conn.getresponse()
        payload = response.read()
        return Reply(
            response.status,
            {name.lower(): value for name, value in response.getheaders()},
            payload,
            (time.monotonic() - began) * 1000,
        )
    finally:
        conn.close()
