#!/usr/bin/env python3
"""Continuous load through the load balancer, until a stop file appears.

Workers send GET and POST requests at a steady total rate over keep-alive
HTTPS connections and record every answer; at --slow-at seconds, --slow-count
held requests (`?hold=1`: the backends answer them once the test releases
them) go out at once, so that some are in flight on each backend during a
drain. A request fails on any error or any status but 200.

Connections are reused the way urllib3 (requests) reuses them: a pooled
connection the server has closed meanwhile (readable before a request is
sent) is replaced by a new one. An idempotent request (GET) on a reused
connection that the server closed before any byte of an answer is sent again
once on a new connection (RFC 9112, 9.3.1) and counted apart; a POST never is.
Writes a JSON summary to --out."""

from __future__ import annotations

import argparse
import collections
import http.client
import json
import os
import select
import ssl
import threading
import time


def connect(args, ctx):
    return http.client.HTTPSConnection(args.host, args.port, context=ctx, timeout=args.timeout)


def dropped(sock) -> bool:
    """urllib3's is_connection_dropped: an idle connection that is readable was closed."""
    return bool(select.select([sock], [], [], 0)[0])


def request(conn, method, path, rid):
    body = b'{"probe": true}' if method == "POST" else None
    headers = {"X-Request-ID": rid, "Content-Type": "application/json"}
    conn.request(method, path, body=body, headers=headers)
    resp = conn.getresponse()
    data = resp.read()
    return resp.status, data, resp.getheader("X-Request-ID")


def one(args, ctx, state, method, path, rid):
    """One request on the worker's connection; returns a record."""
    start = time.time()
    record = {"start": start, "method": method, "path": path, "retried": False}
    if state["conn"] is not None and state["conn"].sock is not None and dropped(state["conn"].sock):
        state["conn"].close()
        state["conn"] = None
        record["reconnected"] = True
    reused = state["conn"] is not None and state["used"]
    if state["conn"] is None:
        state["conn"], state["used"] = connect(args, ctx), False
    try:
        try:
            status, data, echoed = request(state["conn"], method, path, rid)
        except (http.client.RemoteDisconnected, ConnectionError, ssl.SSLEOFError):
            if not reused or method != "GET":
                raise
            state["conn"].close()
            state["conn"] = connect(args, ctx)
            record["retried"] = True
            status, data, echoed = request(state["conn"], method, path, rid)
        state["used"] = True
        record["status"] = status
        answer = json.loads(data) if status == 200 else {}
        record["backend"] = answer.get("backend")
        record["request_id_ok"] = answer.get("request_id") == rid and echoed == rid
    except Exception as exc:  # every failure is counted
        record["error"] = f"{type(exc).__name__}: {exc}"
        if state["conn"] is not None:
            state["conn"].close()
        state["conn"] = None
    record["end"] = time.time()
    return record


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=443)
    p.add_argument("--ca", required=True)
    p.add_argument("--rate", type=float, default=40.0, help="requests per second, all workers")
    p.add_argument("--workers", type=int, default=8)
    p.add_argument("--stop-file", required=True)
    p.add_argument("--max-seconds", type=float, default=300)
    p.add_argument("--slow-at", type=float, default=5)
    p.add_argument("--slow-count", type=int, default=8)
    p.add_argument("--timeout", type=float, default=300, help="seconds to wait for an answer")
    p.add_argument("--out", required=True)
    args = p.parse_args()
    ctx = ssl.create_default_context(cafile=args.ca)
    records, lock = [], threading.Lock()
    t0 = time.time()
    stop = threading.Event()

    def worker(n):
        state = {"conn": None, "used": False}
        interval, i = args.workers / args.rate, 0
        while not stop.is_set():
            i += 1
            method = "POST" if i % 4 == 0 else "GET"
            rec = one(args, ctx, state, method, f"/load/{n}/{i}", f"load-{n}-{i}")
            with lock:
                records.append(rec)
            time.sleep(max(0.0, interval - (rec["end"] - rec["start"])))

    def slow(n):
        state = {"conn": None, "used": False}
        rec = one(args, ctx, state, "GET", f"/slow/{n}?hold=1", f"slow-{n}")
        rec["slow"] = True
        with lock:
            records.append(rec)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(args.workers)]
    for t in threads:
        t.start()
    slow_started = False
    while time.time() - t0 < args.max_seconds and not os.path.exists(args.stop_file):
        if not slow_started and time.time() - t0 >= args.slow_at:
            for n in range(args.slow_count):
                th = threading.Thread(target=slow, args=(n,))
                th.start()
                threads.append(th)
            slow_started = True
        time.sleep(0.1)
    stop.set()
    for t in threads:
        t.join()
    failures = [r for r in records if r.get("error") or r.get("status") != 200]
    summary = {
        "seconds": round(time.time() - t0, 1),
        "requests": len(records),
        "failures": len(failures),
        "failure_samples": failures[:10],
        "post_requests": sum(r["method"] == "POST" for r in records),
        "retried_on_closed_keepalive": sum(r["retried"] for r in records),
        "reconnected_after_server_close": sum(r.get("reconnected", False) for r in records),
        "request_id_mismatches": sum(not r.get("request_id_ok", True) for r in records),
        "by_backend": dict(collections.Counter(r.get("backend") for r in records)),
        "slow": [r for r in records if r.get("slow")],
        "records": records,
    }
    with open(args.out, "w") as out:
        json.dump(summary, out)


if __name__ == "__main__":
    main()
