"""The hash chain catches every edit, insertion, reordering, deletion and cut tail."""

from __future__ import annotations

import itertools
import json

import pytest
from ansible_collections.slipway.ops.plugins.plugin_utils import _audit_chain as chain


def write_log(path, count=5, key=None):
    writer = chain.ChainWriter(path, key)
    for n in range(count):
        writer.append({"type": "task", "n": n, "ts": f"t{n}"})
    writer.close()
    return path


def lines(path):
    return path.read_text().splitlines(keepends=True)


def problems(path, key=None):
    return chain.verify_log(path, key=key).problems


@pytest.fixture
def log(tmp_path):
    return write_log(tmp_path / "audit.jsonl")


def test_an_untouched_log_verifies(log):
    report = chain.verify_log(log)
    assert report.ok, report.problems
    assert report.records == 5
    last = json.loads(lines(log)[-1])
    assert report.head == (5, last["hash"])
    assert [json.loads(line)["seq"] for line in lines(log)] == [1, 2, 3, 4, 5]


def test_each_record_carries_the_previous_hash(log):
    records = [json.loads(line) for line in lines(log)]
    assert records[0]["prev"] == chain.GENESIS
    for before, after in itertools.pairwise(records):
        assert after["prev"] == before["hash"]


def test_an_edited_record_is_caught(log):
    text = log.read_text().replace('"n":2', '"n":7')
    log.write_text(text)
    assert problems(log) == ["line 3 (seq 3): content does not match its hash (edited)"]


def test_a_deleted_record_is_caught(log):
    rows = lines(log)
    log.write_text("".join(rows[:2] + rows[3:]))
    found = problems(log)
    assert "line 3 (seq 4): expected seq 3: records missing before it" in found
    assert "line 3 (seq 4): does not link to the record before it" in found


def test_swapped_records_are_caught(log):
    rows = lines(log)
    rows[1], rows[2] = rows[2], rows[1]
    log.write_text("".join(rows))
    assert any("seq 3): does not link" in p for p in problems(log))
    assert any("out of order or inserted" in p for p in problems(log))


def test_an_inserted_record_is_caught_even_with_a_valid_hash(log):
    rows = lines(log)
    forged = {"type": "task", "n": 99, "seq": 3, "prev": json.loads(rows[1])["hash"]}
    forged["hash"] = chain.record_hash(forged)
    log.write_text("".join([*rows[:2], json.dumps(forged) + "\n", *rows[2:]]))
    assert any("line 4 (seq 3)" in p for p in problems(log))


def test_records_cut_off_the_end_are_caught_by_the_head(log):
    log.write_text("".join(lines(log)[:3]))
    assert problems(log) == ["the log ends at seq 3 but its head says 5: records cut off the end"]


def test_a_missing_head_is_a_problem(log):
    chain.head_path_for(log).unlink()
    assert problems(log) == ["head file missing: cannot tell whether records were cut off"]


def test_a_rewritten_chain_needs_the_key_to_be_caught(tmp_path):
    """Without a key, whoever can write the log and its head can forge a whole new chain."""
    key = b"k" * 32
    log = write_log(tmp_path / "audit.jsonl", key=key)
    assert chain.verify_log(log, key=key).ok
    forged = tmp_path / "forged.jsonl"
    writer = chain.ChainWriter(forged)  # the forger has no key
    for row in lines(log):
        record = json.loads(row)
        writer.append({k: v for k, v in record.items() if k not in ("seq", "prev", "hash", "alg")})
    writer.close()
    assert chain.verify_log(forged).ok  # undetectable without the key
    assert any("not keyed" in p for p in chain.verify_log(forged, key=key).problems)
    assert any("give the key" in p for p in chain.verify_log(log).problems)
    wrong = chain.verify_log(log, key=b"x" * 32).problems
    assert any("does not match its hash" in p for p in wrong)


def test_writers_in_two_processes_interleave_into_one_chain(tmp_path):
    path = tmp_path / "audit.jsonl"
    first, second = chain.ChainWriter(path), chain.ChainWriter(path)
    for n in range(4):
        (first if n % 2 else second).append({"n": n})
    first.close()
    second.close()
    report = chain.verify_log(path)
    assert report.ok, report.problems
    assert report.records == 4


def test_a_torn_last_line_is_reported_and_the_chain_continues(log):
    with log.open("a") as out:
        out.write('{"type":"task","n"')
    writer = chain.ChainWriter(log)
    written = writer.append({"n": 6})
    writer.close()
    assert written["seq"] == 6
    assert problems(log) == ["line 6: not a JSON record (damaged or torn write)"]


def test_the_head_is_rewritten_in_place_at_a_fixed_size(log):
    head_file = chain.head_path_for(log)
    assert head_file.stat().st_size == chain.HEAD_SIZE
    head = json.loads(head_file.read_text())
    assert head["seq"] == 5
    assert head["hash"] == json.loads(lines(log)[-1])["hash"]


def test_a_long_tail_record_is_found(tmp_path):
    path = tmp_path / "audit.jsonl"
    writer = chain.ChainWriter(path)
    writer.append({"big": "x" * (chain.TAIL_WINDOW * 3)})
    writer.close()
    again = chain.ChainWriter(path)
    assert again.append({"n": 1})["seq"] == 2
    again.close()
    assert chain.verify_log(path).ok


def test_records_without_run_end_are_noted_not_failed(tmp_path):
    path = tmp_path / "audit.jsonl"
    writer = chain.ChainWriter(path)
    writer.append({"type": "run_start", "run": "r1"})
    writer.append({"type": "run_start", "run": "r2"})
    writer.append({"type": "run_end", "run": "r2"})
    writer.close()
    report = chain.verify_log(path)
    assert report.ok
    assert report.notes == [
        "run r1 (line 1) has no run_end: interrupted, still running, or cut off"
    ]


def test_the_deploy_index_must_match_the_log(tmp_path):
    path = tmp_path / "audit.jsonl"
    writer = chain.ChainWriter(path)
    written = writer.append({"type": "deploy_outcome", "deploy": {"id": "d1", "outcome": "failed"}})
    writer.close()
    index = tmp_path / chain.INDEX_NAME
    entry = {**written["deploy"], "seq": written["seq"], "hash": written["hash"]}
    index.write_text(json.dumps(entry) + "\n")
    assert chain.verify_log(path).ok
    index.write_text(json.dumps({**entry, "outcome": "success"}) + "\n")
    assert chain.verify_log(path).problems == [
        "deploy index line 1: does not match the log's record seq 1"
    ]
    index.write_text("")
    assert chain.verify_log(path).problems == [
        "deploy outcome seq 1 is missing from the deploy index"
    ]
