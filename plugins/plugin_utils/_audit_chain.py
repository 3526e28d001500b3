# Copyright: Slipway maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The audit log's hash chain: append records under a lock, verify a log.

Each record is one line of canonical JSON (sorted keys, no spaces, no floats)
carrying `seq` (1, 2, 3 ... over the whole file), `prev` (the previous
record's hash) and `hash` (SHA-256, or HMAC-SHA256 with a key, of the record
without `hash`). A head file beside the log holds the last `seq` and `hash`
written, so cutting records off the end is caught too. Standard library only:
the verify command runs where Ansible is not installed.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import hmac
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

GENESIS = "0" * 64
INDEX_NAME = "deploys.jsonl"
TAIL_WINDOW = 65536
# The head is rewritten in place, padded to a fixed size: one small pwrite per
# record. (A temporary file and rename per record costs a millisecond on ext4.)
HEAD_SIZE = 256


class ChainError(Exception):
    """The log cannot be appended to (its tail is unreadable)."""


def canonical(record: dict) -> bytes:
    """The bytes a record's hash covers: sorted keys, no whitespace, UTF-8."""
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def record_hash(record: dict, key: bytes | None = None) -> str:
    """Hash of a record without its `hash` field: SHA-256, or HMAC-SHA256 with a key."""
    body = canonical({k: v for k, v in record.items() if k != "hash"})
    if key:
        return hmac.new(key, body, hashlib.sha256).hexdigest()
    return hashlib.sha256(body).hexdigest()


def head_path_for(log_path: Path) -> Path:
    return log_path.with_name(log_path.name + ".head")


def last_record(fd: int) -> dict | None:
    """The last complete, parseable record of an open log, or None for an empty log."""
    size = os.fstat(fd).st_size
    window = TAIL_WINDOW
    while size:
        start = max(0, size - window)
        data = os.pread(fd, size - start, start)
        lines = data.rstrip(b"\n").split(b"\n")
        # Unless the window reaches the start, its first line may be cut in half.
        candidates = lines if start == 0 else lines[1:]
        for line in reversed(candidates):
            with contextlib.suppress(ValueError):
                record = json.loads(line)
                if isinstance(record, dict) and "hash" in record:
                    return record
        if start == 0:
            raise ChainError("the log has content but no readable record")
        window *= 4
    return None


class ChainWriter:
    """Append records to a hash-chained JSON Lines log, safe beside other writers.

    Each append takes an exclusive lock, reads the true tail when another
    process wrote since (so concurrent runs interleave into one chain),
    writes one line and rewrites the head file in place.
    """

    def __init__(self, path: Path, key: bytes | None = None, mode: int = 0o640):
        self.path = Path(path)
        self.head_path = head_path_for(self.path)
        self.key = key
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, mode)
        self._head_fd = os.open(self.head_path, os.O_WRONLY | os.O_CREAT, mode)
        self._known_size = -1
        self._last: tuple[int, str] = (0, GENESIS)
        self.written = 0

    def append(self, record: dict) -> dict:
        """Chain and write a record (a dict of JSON types, no floats); return it as written."""
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        try:
            size = os.fstat(self._fd).st_size
            if size != self._known_size:
                tail = last_record(self._fd)
                self._last = (int(tail["seq"]), str(tail["hash"])) if tail else (0, GENESIS)
                if size and os.pread(self._fd, 1, size - 1) != b"\n":
                    os.write(self._fd, b"\n")  # a torn last line stays visible to verify
            seq, prev = self._last
            chained = {**record, "seq": seq + 1, "prev": prev}
            if self.key:
                chained["alg"] = "hmac-sha256"
            chained["hash"] = record_hash(chained, self.key)
            os.write(self._fd, canonical(chained) + b"\n")
            self._known_size = os.fstat(self._fd).st_size
            self._last = (chained["seq"], chained["hash"])
            head = {"seq": chained["seq"], "hash": chained["hash"], "ts": chained.get("ts")}
            os.pwrite(self._head_fd, canonical(head).ljust(HEAD_SIZE - 1) + b"\n", 0)
            self.written += 1
            return chained
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    @property
    def head(self) -> tuple[int, str]:
        return self._last

    def sync(self) -> None:
        os.fsync(self._fd)
        os.fsync(self._head_fd)

    def close(self) -> None:
        if self._fd >= 0:
            with contextlib.suppress(OSError):
                self.sync()
            os.close(self._fd)
            os.close(self._head_fd)
            self._fd = self._head_fd = -1


@dataclass
class Report:
    """What verify found: problems make the log untrustworthy; notes do not."""

    records: int = 0
    head: tuple[int, str] = (0, GENESIS)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # seq -> (hash, deploy summary) of every deploy_outcome record
    deploys: dict[int, tuple[str, dict]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_records(lines: list[bytes], key: bytes | None = None) -> Report:
    """Check every line's hash and its link to the one before."""
    report = Report()
    prev_seq, prev_hash = 0, GENESIS
    started: dict[str, int] = {}
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            report.problems.append(f"line {number}: empty line")
            continue
        try:
            record = json.loads(raw)
        except ValueError:
            report.problems.append(f"line {number}: not a JSON record (damaged or torn write)")
            continue
        if not isinstance(record, dict) or not {"seq", "prev", "hash"} <= record.keys():
            report.problems.append(f"line {number}: not an audit record (no seq/prev/hash)")
            continue
        report.records += 1
        seq, where = record["seq"], f"line {number} (seq {record['seq']})"
        if key and record.get("alg") != "hmac-sha256":
            report.problems.append(f"{where}: not keyed, but a key was given")
        elif not key and record.get("alg") == "hmac-sha256":
            report.problems.append(f"{where}: keyed record; give the key (--key-file) to check it")
        elif not hmac.compare_digest(record_hash(record, key), str(record["hash"])):
            report.problems.append(f"{where}: content does not match its hash (edited)")
        if seq != prev_seq + 1:
            kind = "records missing before it" if seq > prev_seq + 1 else "out of order or inserted"
            report.problems.append(f"{where}: expected seq {prev_seq + 1}: {kind}")
        if record["prev"] != prev_hash:
            report.problems.append(f"{where}: does not link to the record before it")
        run = record.get("run")
        if record.get("type") == "deploy_outcome" and isinstance(seq, int):
            report.deploys[seq] = (str(record["hash"]), record.get("deploy"))
        if record.get("type") == "run_start" and run:
            started[run] = number
        elif record.get("type") == "run_end" and run:
            started.pop(run, None)
        prev_seq, prev_hash = seq if isinstance(seq, int) else prev_seq + 1, str(record["hash"])
    report.head = (prev_seq, prev_hash)
    for run, number in started.items():
        report.notes.append(
            f"run {run} (line {number}) has no run_end: interrupted, still running, or cut off"
        )
    return report


def verify_head(report: Report, head: dict | None) -> None:
    """Compare the chain's end with the head file: catches records cut off the end."""
    if head is None:
        report.problems.append("head file missing: cannot tell whether records were cut off")
        return
    seq, digest = head.get("seq"), head.get("hash")
    last_seq, last_hash = report.head
    if seq == last_seq and digest == last_hash:
        return
    if isinstance(seq, int) and seq > last_seq:
        report.problems.append(
            f"the log ends at seq {last_seq} but its head says {seq}: records cut off the end"
        )
    else:
        report.problems.append(f"the head (seq {seq}) does not match the log's last record")


def verify_index(report: Report, lines: list[bytes]) -> None:
    """The deploy index (what the DORA metrics are computed from) must match the log."""
    seen = set()
    for number, raw in enumerate(lines, start=1):
        try:
            entry = json.loads(raw)
            seq, digest = entry.pop("seq"), entry.pop("hash")
        except (ValueError, KeyError, AttributeError):
            report.problems.append(f"deploy index line {number}: not a deploy entry")
            continue
        logged = report.deploys.get(seq)
        if logged is None or logged[0] != digest or logged[1] != entry:
            report.problems.append(
                f"deploy index line {number}: does not match the log's record seq {seq}"
            )
        seen.add(seq)
    for seq in sorted(set(report.deploys) - seen):
        report.problems.append(f"deploy outcome seq {seq} is missing from the deploy index")


def verify_log(
    path: Path, head_path: Path | None = None, key: bytes | None = None, index: Path | None = None
) -> Report:
    """Verify a log file, its head file and, when it exists, the deploy index beside it."""
    path = Path(path)
    report = verify_records(path.read_bytes().splitlines(), key)
    head_path = Path(head_path) if head_path else head_path_for(path)
    head = None
    with contextlib.suppress(FileNotFoundError, ValueError):
        head = json.loads(head_path.read_bytes())
    verify_head(report, head)
    index = Path(index) if index else path.with_name(INDEX_NAME)
    if index.is_file():
        verify_index(report, index.read_bytes().splitlines())
    return report
