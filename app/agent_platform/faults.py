"""Fault injection: how a bad release misbehaves. Off unless set by environment.

Deploy gates are tested against these, so each one imitates a real failure:
a release that crashes on boot, never becomes ready, answers a share of
requests with 500, is slow (on every route, or on one, from boot or from some
minutes after it), crashes some seconds after boot, has workers
that take tasks and never complete them, or was built with its API docs
and schema on (a security regression every probe misses).
"""

from __future__ import annotations

from dataclasses import dataclass

FAULT_VARIABLES = (
    "PLATFORM_FAULT_CRASH_ON_BOOT",
    "PLATFORM_FAULT_NEVER_READY",
    "PLATFORM_FAULT_ERROR_RATE",
    "PLATFORM_FAULT_LATENCY_MS",
    "PLATFORM_FAULT_CRASH_AFTER_SECONDS",
    "PLATFORM_FAULT_STALL_TASKS",
    "PLATFORM_FAULT_DEBUG_ENDPOINTS",
    "PLATFORM_FAULT_ROUTE",
    "PLATFORM_FAULT_ROUTE_ERROR_RATE",
    "PLATFORM_FAULT_ROUTE_LATENCY_MS",
    "PLATFORM_FAULT_ROUTE_AFTER_SECONDS",
)
# The probes a route fault must leave alone: a route-only bad release passes them.
PROBES = ("/health", "/ready", "/version", "/metrics")
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def _flag(env: dict[str, str], name: str) -> bool:
    raw = env.get(name, "").strip().lower()
    if raw in ("", "0", "false", "no", "off"):
        return False
    if raw in ("1", "true", "yes", "on"):
        return True
    raise ValueError(
        f"{name}={raw!r} is not a boolean; set 1 to inject the fault or leave it unset"
    )


def _number(env: dict[str, str], name: str, hi: float) -> float:
    raw = env.get(name, "").strip()
    if raw == "":
        return 0.0
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(
            f"{name}={raw!r} is not a number; set a number between 0 and {hi:g}"
        ) from None
    if not 0 <= value <= hi:
        raise ValueError(f"{name}={raw} is out of range; set a number between 0 and {hi:g}")
    return value


def _route(env: dict[str, str]) -> str:
    """METHOD:/v1/route-template (as FastAPI names it), or '' when unset."""
    raw = env.get("PLATFORM_FAULT_ROUTE", "").strip()
    if not raw:
        if any(
            env.get(f"PLATFORM_FAULT_ROUTE_{name}")
            for name in ("ERROR_RATE", "LATENCY_MS", "AFTER_SECONDS")
        ):
            raise ValueError(
                "PLATFORM_FAULT_ROUTE_* is set without PLATFORM_FAULT_ROUTE; "
                "set PLATFORM_FAULT_ROUTE=METHOD:/v1/route, e.g. GET:/v1/tasks/{task_id}"
            )
        return ""
    method, _, path = raw.partition(":")
    if method not in METHODS or not path.startswith("/v1/") or path in PROBES:
        raise ValueError(
            f"PLATFORM_FAULT_ROUTE={raw!r} is not an API route; set METHOD:/v1/route "
            "(a route template under /v1/, e.g. GET:/v1/tasks/{task_id})"
        )
    return f"{method}:{path}"


@dataclass(frozen=True)
class Faults:
    crash_on_boot: bool = False
    never_ready: bool = False
    error_rate: float = 0.0
    latency_ms: float = 0.0
    crash_after_seconds: float = 0.0
    stall_tasks: bool = False
    debug_endpoints: bool = False
    # One API route (METHOD:/v1/template) that errs or is slow; every other route and
    # the probes stay healthy.
    route: str = ""
    route_error_rate: float = 0.0
    route_latency_ms: float = 0.0
    # The route fault starts this long after the process did (a leak, a cache that
    # fills): the release is good for its first minutes, then bad on that route.
    route_after_seconds: float = 0.0

    @classmethod
    def from_env(cls, env: dict[str, str]) -> Faults:
        from .settings import SettingsError

        try:
            return cls(
                crash_on_boot=_flag(env, "PLATFORM_FAULT_CRASH_ON_BOOT"),
                never_ready=_flag(env, "PLATFORM_FAULT_NEVER_READY"),
                error_rate=_number(env, "PLATFORM_FAULT_ERROR_RATE", 1.0),
                latency_ms=_number(env, "PLATFORM_FAULT_LATENCY_MS", 600_000),
                crash_after_seconds=_number(env, "PLATFORM_FAULT_CRASH_AFTER_SECONDS", 86_400),
                stall_tasks=_flag(env, "PLATFORM_FAULT_STALL_TASKS"),
                debug_endpoints=_flag(env, "PLATFORM_FAULT_DEBUG_ENDPOINTS"),
                route=_route(env),
                route_error_rate=_number(env, "PLATFORM_FAULT_ROUTE_ERROR_RATE", 1.0),
                route_latency_ms=_number(env, "PLATFORM_FAULT_ROUTE_LATENCY_MS", 600_000),
                route_after_seconds=_number(env, "PLATFORM_FAULT_ROUTE_AFTER_SECONDS", 86_400),
            )
        except ValueError as exc:
            raise SettingsError(str(exc)) from None

    def request_level(self) -> bool:
        """True when a fault acts on requests (added latency, errors, on all or one route)."""
        return bool(self.latency_ms or self.error_rate or self.route)

    def active(self) -> dict[str, object]:
        """The faults that are on, for logs and /version."""
        return {k: v for k, v in self.__dict__.items() if v}
