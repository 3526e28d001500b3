"""Migrations: up and down, one runner at a time, and expand/contract
(release N-1 keeps working against schema N)."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import uuid

import pytest
import sqlalchemy

from .conftest import engine_for, migrate, query
from .servers import APP_DIR

REVISIONS = ["0001", "0002"]


def shape(url: str) -> dict[str, set[str]]:
    engine = engine_for(url)
    inspector = sqlalchemy.inspect(engine)
    tables = {t: {c["name"] for c in inspector.get_columns(t)} for t in inspector.get_table_names()}
    engine.dispose()
    return tables


def history(url: str) -> set[str]:
    return {row[0] for row in query(url, "SELECT revision FROM schema_history")}


def test_the_revisions_known_to_this_test_are_the_release_s():
    sys.path.insert(0, str(APP_DIR))
    from agent_platform.schema import expected_revision

    assert expected_revision() == REVISIONS[-1]


def test_up_and_down_step_by_step(empty_database):
    done = migrate(empty_database, "--to", "0001")
    assert done.returncode == 0, done.stderr
    log = json.loads(done.stdout.splitlines()[-1])
    assert (log["msg"], log["direction"], log["before"], log["after"]) == (
        "migrations done",
        "upgrade",
        None,
        "0001",
    )
    assert "description" not in shape(empty_database)["agents"]
    assert history(empty_database) == {"0001"}

    assert migrate(empty_database).returncode == 0
    assert "description" in shape(empty_database)["agents"]
    assert {"completed_by_release", "duration_ms"} <= shape(empty_database)["tasks"]
    assert history(empty_database) == {"0001", "0002"}
    again = migrate(empty_database)
    assert json.loads(again.stdout.splitlines()[-1])["before"] == "0002"

    down = migrate(empty_database, "--to", "0001")
    assert json.loads(down.stdout.splitlines()[-1])["direction"] == "downgrade"
    assert "description" not in shape(empty_database)["agents"]
    assert history(empty_database) == {"0001"}

    assert migrate(empty_database, "--to", "base").returncode == 0
    assert set(shape(empty_database)) == {"alembic_version"}


def test_an_unknown_revision_is_refused(empty_database):
    done = migrate(empty_database, "--to", "9999")
    assert done.returncode == 2
    assert "unknown revision '9999'; this release knows 0001, 0002" in done.stderr
    assert shape(empty_database) == {}


def test_two_runners_at_once_take_turns(empty_database):
    runners = [
        subprocess.Popen(
            [sys.executable, "-m", "agent_platform", "migrate"],
            env={
                "DATABASE_URL": empty_database,
                "REDIS_URL": "redis://unused:6379/0",
                "PATH": "/usr/bin:/bin",
            },
            cwd=APP_DIR,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(3)
    ]
    outputs = [r.communicate(timeout=60)[0] for r in runners]
    assert [r.returncode for r in runners] == [0, 0, 0], outputs
    assert history(empty_database) == {"0001", "0002"}


@pytest.mark.parametrize(("previous", "current"), list(itertools.pairwise(REVISIONS)))
def test_the_previous_release_still_works_on_the_new_schema(empty_database, previous, current):
    """Expand/contract: what release N-1 writes and reads must work on schema N.

    The tables are reflected at N-1's revision (the columns that release
    knows), the schema is moved to N, and N-1's writes and reads run on it.
    """
    assert migrate(empty_database, "--to", previous).returncode == 0
    old = sqlalchemy.MetaData()
    engine = engine_for(empty_database)
    old.reflect(engine, only=["agents", "tasks", "task_events"])
    engine.dispose()
    with engine_for(empty_database).begin() as conn:
        kept = uuid.uuid4()
        conn.execute(old.tables["agents"].insert().values(id=kept, name="before", type="toolbox"))

    assert migrate(empty_database, "--to", current).returncode == 0

    engine = engine_for(empty_database)
    with engine.begin() as conn:
        agents, tasks, task_events = (old.tables[t] for t in ("agents", "tasks", "task_events"))
        agent_id = uuid.uuid4()
        conn.execute(agents.insert().values(id=agent_id, name="old-release", type="toolbox"))
        task_id = uuid.uuid4()
        conn.execute(tasks.insert().values(id=task_id, agent_id=agent_id, input={"prompt": "x"}))
        conn.execute(
            tasks.update()
            .where(tasks.c.id == task_id)
            .values(status="succeeded", result={"output": "x"})
        )
        conn.execute(
            task_events.insert().values(
                task_id=task_id, event="completed", worker_id="w", release="old"
            )
        )
        row = conn.execute(sqlalchemy.select(tasks).where(tasks.c.id == task_id)).one()
        assert row.status == "succeeded"
        names = set(conn.execute(sqlalchemy.select(agents.c.name)).scalars())
        assert names == {"before", "old-release"}
    engine.dispose()


def test_this_release_is_not_ready_on_the_previous_schema(platform, empty_database, client):
    assert migrate(empty_database, "--to", REVISIONS[-2]).returncode == 0
    platform.database_url = empty_database
    api = platform.api()
    reply = client.get(f"{api.url}/ready")
    assert reply.status_code == 503
    assert reply.json()["problems"] == [
        f"schema lacks migration {REVISIONS[-1]}: run 'python -m agent_platform migrate'"
    ]
