"""agent-platform: run the API, a worker or the migrations; make an API key; check health.

python -m agent_platform api | worker | migrate [--to REV] | keygen | healthcheck
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
import time

from . import logs
from .logs import event
from .settings import Settings, SettingsError

log = logging.getLogger("agent_platform")


def _arm_crash_after(settings: Settings) -> None:
    seconds = settings.faults.crash_after_seconds
    if not seconds:
        return

    def crash() -> None:
        event(
            log,
            "fault: crashing now",
            logging.ERROR,
            fault="PLATFORM_FAULT_CRASH_AFTER_SECONDS",
            after=seconds,
        )
        os._exit(3)

    timer = threading.Timer(seconds, crash)
    timer.daemon = True
    timer.start()


def _boot(settings: Settings, role: str) -> None:
    logs.setup(settings.log_level, release=settings.release, role=role)
    if settings.faults.crash_on_boot:
        event(
            log, "fault: crashing on boot", logging.CRITICAL, fault="PLATFORM_FAULT_CRASH_ON_BOOT"
        )
        sys.exit(3)
    _arm_crash_after(settings)


def run_api(settings: Settings) -> int:
    import uvicorn

    from .api.app import create_app

    _boot(settings, "api")
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        loop="uvloop",
        http="httptools",
        timeout_graceful_shutdown=settings.worker_grace_seconds,
        server_header=False,
        proxy_headers=False,  # X-Forwarded-For: PLATFORM_TRUSTED_PROXIES decides
    )
    event(log, "api starting", port=settings.port, **settings.faults.active())
    uvicorn.Server(config).run()
    return 0


def run_worker(settings: Settings) -> int:
    from .worker import main as worker_main

    _boot(settings, "worker")
    return worker_main(settings)


def run_migrate(settings: Settings, target: str) -> int:
    from .schema import current_revision_url, migrate

    logs.setup(settings.log_level, release=settings.release, role="migrate")
    began = time.monotonic()
    before = current_revision_url(settings.database_url)
    direction = migrate(settings, target)
    after = current_revision_url(settings.database_url)
    event(
        log,
        "migrations done",
        direction=direction,
        before=before,
        after=after,
        seconds=round(time.monotonic() - began, 2),
    )
    return 0


def run_keygen() -> int:
    from .api.security import new_key

    key, digest = new_key()
    print(f"API key (give it to clients, keep it in a vault): {key}")
    print(f"PLATFORM_API_KEY_SHA256 (configure the API with it): {digest}")
    return 0


def run_healthcheck() -> int:
    """Docker's HEALTHCHECK: /health for the API, heartbeat freshness for a worker."""
    with open("/proc/1/cmdline", "rb") as f:
        is_worker = b"worker" in f.read()
    if is_worker:
        from .alive import fresh

        return 0 if fresh() else 1
    import urllib.request

    port = os.environ.get("PLATFORM_PORT", "8000")
    try:
        url = f"http://127.0.0.1:{port}/health"  # a fixed local http URL
        with urllib.request.urlopen(url, timeout=3) as reply:  # nosec B310
            return 0 if reply.status == 200 else 1
    except OSError:
        return 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="agent-platform", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("api", help="serve the HTTP API")
    sub.add_parser("worker", help="run an agent worker")
    migrate = sub.add_parser(
        "migrate", help="migrate the database (to the newest revision by default)"
    )
    migrate.add_argument("--to", default="head", help="a revision, head or base")
    sub.add_parser("keygen", help="make an API key and the digest to configure")
    sub.add_parser("healthcheck", help="the container's health check")
    args = parser.parse_args(argv)
    if args.command == "keygen":
        return run_keygen()
    if args.command == "healthcheck":
        return run_healthcheck()
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(f"agent-platform: configuration error: {exc}", file=sys.stderr)
        return 2
    if args.command == "api":
        return run_api(settings)
    if args.command == "worker":
        return run_worker(settings)
    try:
        return run_migrate(settings, args.to)
    except ValueError as exc:
        print(f"agent-platform: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
