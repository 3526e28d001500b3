#!/usr/bin/python3
"""Record Alertmanager's webhook notifications, one JSON line each.

A proof that alerts leave Alertmanager (the lab): every POST body is appended
to the log with the time it arrived, as {"received_at": ..., "payload": {...}}.
GET answers 200 with the number of notifications recorded.
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MAX_BODY = 1 << 20
_lock = threading.Lock()


def record(path: str, payload: object, now: float) -> None:
    """Append one notification; a line is written whole (one write, under a lock)."""
    line = json.dumps({"received_at": round(now, 3), "payload": payload}, sort_keys=True) + "\n"
    with _lock, open(path, "a", encoding="utf-8") as f:
        f.write(line)
        f.flush()
        os.fsync(f.fileno())


def count(path: str) -> int:
    try:
        with open(path, encoding="utf-8") as f:
            return sum(1 for _line in f)
    except OSError:
        return 0


def handler_for(path: str):
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length <= 0 or length > MAX_BODY:
                self.send_error(400, "a JSON body of at most 1 MiB")
                return
            try:
                payload = json.loads(self.rfile.read(length))
            except ValueError:
                self.send_error(400, "not JSON")
                return
            record(path, payload, time.time())
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_GET(self) -> None:
            body = json.dumps({"recorded": count(path)}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, fmt: str, *args) -> None:
            pass

    return Handler


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listen", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9095)
    parser.add_argument("--log", required=True, help="JSON-lines file to append to")
    args = parser.parse_args(argv)
    server = ThreadingHTTPServer((args.listen, args.port), handler_for(args.log))
    server.serve_forever()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
