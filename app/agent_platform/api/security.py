"""API keys on mutating endpoints and a rate limit on /v1.

Keys are stored as SHA-256 digests (PLATFORM_API_KEY_SHA256): keys are random
32-byte tokens, so a fast hash is enough and no key is ever in the config.
The presented key's digest is compared with every stored one in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
import time

from fastapi import HTTPException, Request

RATE_WINDOW_SECONDS = 60


def new_key() -> tuple[str, str]:
    """A fresh API key and the digest to configure."""
    key = "sk_" + secrets.token_urlsafe(32)
    return key, digest(key)


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def presented_key(request: Request) -> str:
    key = request.headers.get("x-api-key", "")
    auth = request.headers.get("authorization", "")
    if not key and auth[:7].lower() == "bearer ":
        key = auth[7:].strip()
    return key


def key_matches(presented: str, stored: tuple[str, ...]) -> bool:
    if not presented:
        return False
    candidate = digest(presented)
    matched = False
    for known in stored:  # no early exit: the time taken says nothing about which key
        matched |= hmac.compare_digest(candidate, known)
    return matched


def require_api_key(request: Request) -> None:
    stored = request.app.state.settings.api_key_sha256
    if not stored:
        raise HTTPException(
            401,
            "no API key is configured: set PLATFORM_API_KEY_SHA256 (see agent_platform keygen)",
        )
    if not key_matches(presented_key(request), stored):
        raise HTTPException(
            401, "missing or invalid API key", headers={"WWW-Authenticate": "Bearer"}
        )


def _trusted(peer: str, networks: tuple) -> bool:
    try:
        address = ipaddress.ip_address(peer)
    except ValueError:
        return False
    return any(address in net for net in networks)


def client_identity(request: Request) -> str:
    """Who the rate limit counts: the API key if one is presented, else the client address.

    X-Forwarded-For is believed only from PLATFORM_TRUSTED_PROXIES (the load balancers).
    """
    key = presented_key(request)
    if key:
        return "key:" + digest(key)[:16]
    peer = request.client.host if request.client else "unknown"
    proxies = request.app.state.trusted_proxies
    forwarded = request.headers.get("x-forwarded-for", "")
    if forwarded and _trusted(peer, proxies):
        peer = forwarded.split(",")[-1].strip()
    return "ip:" + peer


def rate_limit(request: Request) -> None:
    limit = request.app.state.settings.rate_limit_per_minute
    if limit == 0:
        return
    now = time.time()
    window = int(now // RATE_WINDOW_SECONDS)
    key = f"platform:rate:{client_identity(request)}:{window}"
    pipe = request.app.state.redis.pipeline(transaction=False)
    pipe.incr(key)
    pipe.expire(key, RATE_WINDOW_SECONDS + 1)
    count, _ = pipe.execute()
    if count > limit:
        retry = int(RATE_WINDOW_SECONDS - now % RATE_WINDOW_SECONDS) + 1
        raise HTTPException(
            429,
            f"rate limit of {limit} requests per minute exceeded",
            headers={"Retry-After": str(retry)},
        )
