"""Migrations: run them, and tell whether the database suits this release.

Each applied revision is recorded in schema_history (the env.py hook), so a
release can tell "at or past my revision" (ready) from "behind" (not ready),
which alembic_version alone cannot: it holds only the newest head.
"""

from __future__ import annotations

from importlib import resources

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, text

from .settings import Settings


def alembic_config(database_url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(resources.files("agent_platform") / "migrations"))
    cfg.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return cfg


def expected_revision() -> str:
    """The newest migration this release ships: the schema it needs."""
    script = ScriptDirectory.from_config(alembic_config("postgresql+psycopg://unused"))
    return script.get_current_head()


def migrate(settings: Settings, target: str = "head") -> str:
    """Upgrade or downgrade to target (a revision, 'head' or 'base'); say which."""
    cfg = alembic_config(settings.database_url)
    order = [r.revision for r in reversed(list(ScriptDirectory.from_config(cfg).walk_revisions()))]
    if target not in ("head", "base") and target not in order:
        raise ValueError(f"unknown revision {target!r}; this release knows {', '.join(order)}")
    current = current_revision_url(settings.database_url)
    position = {rev: i for i, rev in enumerate(order)}
    wanted = {"head": len(order) - 1, "base": -1}.get(target, position.get(target, -1))
    now = position.get(current, -1) if current else -1
    if wanted >= now:
        command.upgrade(cfg, target)
        return "upgrade"
    command.downgrade(cfg, target)
    return "downgrade"


def current_revision_url(database_url: str) -> str | None:
    from .db import make_engine

    engine = make_engine(database_url, pool_size=1)
    try:
        return current_revision(engine)
    finally:
        engine.dispose()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        exists = conn.execute(text("SELECT to_regclass('alembic_version') IS NOT NULL")).scalar()
        if not exists:
            return None
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def schema_problem(engine: Engine, expected: str) -> str | None:
    """None when the schema is at or past `expected`, else why not."""
    with engine.connect() as conn:
        exists = conn.execute(text("SELECT to_regclass('schema_history') IS NOT NULL")).scalar()
        applied = (
            set(conn.execute(text("SELECT revision FROM schema_history")).scalars())
            if exists
            else set()
        )
    if expected in applied:
        return None
    return f"schema lacks migration {expected}: run 'python -m agent_platform migrate'"
