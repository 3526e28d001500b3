"""Fault injection: how a bad release misbehaves. Off unless set by environment.

Deploy gates are tested against these, so each one imitates a real failure:
a release that crashes on boot, never becomes ready, answers a share of
requests with 500, is slow, crashes some seconds after boot, has workers
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
)


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


@dataclass(frozen=True)
class Faults:
    crash_on_boot: bool = False
    never_ready: bool = False
    error_rate: float = 0.0
    latency_ms: float = 0.0
    crash_after_seconds: float = 0.0
    stall_tasks: bool = False
    debug_endpoints: bool = False

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
            )
        except ValueError as exc:
            raise SettingsError(str(exc)) from None

    def request_level(self) -> bool:
        """True when a fault acts on every request (added latency, errors)."""
        return bool(self.latency_ms or self.error_rate)

    def active(self) -> dict[str, object]:
        """The faults that are on, for logs and /version."""
        return {k: v for k, v in self.__dict__.items() if v}
