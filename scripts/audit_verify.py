#!/usr/bin/env python3
"""Verify a slipway.ops.audit log: its hash chain, its head file and its deploy index.

Exits 0 when the log is intact, 1 when anything was edited, inserted,
reordered, deleted or cut off the end (one line per problem), 2 when the log
cannot be read. Needs only Python 3.11; Ansible need not be installed.
Usage: audit_verify.py [LOG] [--head FILE] [--index FILE] [--key-file FILE]
       (LOG defaults to .cache/audit/audit.jsonl, the lab's setting in ansible.cfg)
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

CHAIN = Path(__file__).resolve().parent.parent / "plugins" / "plugin_utils" / "_audit_chain.py"


def load_chain():
    spec = importlib.util.spec_from_file_location("_audit_chain", CHAIN)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("log", nargs="?", default=".cache/audit/audit.jsonl", type=Path)
    parser.add_argument("--head", type=Path, help="head file (default: LOG.head)")
    parser.add_argument(
        "--index", type=Path, help="deploy index (default: deploys.jsonl beside LOG)"
    )
    parser.add_argument("--key-file", type=Path, help="the HMAC key the callback was given")
    args = parser.parse_args(argv)
    chain = load_chain()
    try:
        key = args.key_file.read_bytes().strip() if args.key_file else None
        report = chain.verify_log(args.log, args.head, key, args.index)
    except OSError as error:
        print(f"{args.log}: cannot read: {error}", file=sys.stderr)
        return 2
    seq, digest = report.head
    for note in report.notes:
        print(f"note: {note}")
    if report.ok:
        print(f"{args.log}: intact, {report.records} records, head seq {seq} {digest[:16]}")
        return 0
    for problem in report.problems:
        print(f"TAMPERED: {problem}")
    print(f"{args.log}: NOT intact, {len(report.problems)} problem(s) in {report.records} records")
    return 1


if __name__ == "__main__":
    sys.exit(main())
