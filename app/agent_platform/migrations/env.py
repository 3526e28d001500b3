"""Alembic's environment: online migrations only, one runner at a time."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, text

from agent_platform.models import Base

# Any 64-bit number that is this application's own: two hosts migrating at the
# same time take turns instead of racing.
MIGRATION_LOCK_KEY = 0x5A11_3A75


def _record(ctx, step, heads, run_args) -> None:
    conn = ctx.connection
    if step.is_upgrade:
        conn.execute(
            text("INSERT INTO schema_history (revision) VALUES (:r) ON CONFLICT DO NOTHING"),
            {"r": step.up_revision_id},
        )
    elif conn.execute(text("SELECT to_regclass('schema_history') IS NOT NULL")).scalar():
        conn.execute(
            text("DELETE FROM schema_history WHERE revision = :r"), {"r": step.up_revision_id}
        )


def run_migrations_online() -> None:
    url = context.config.get_main_option("sqlalchemy.url")
    engine = create_engine(url)
    with engine.connect() as conn:
        conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": MIGRATION_LOCK_KEY})
        conn.commit()
        try:
            context.configure(
                connection=conn,
                target_metadata=Base.metadata,
                on_version_apply=_record,
                transaction_per_migration=True,
            )
            with context.begin_transaction():
                context.run_migrations()
            conn.commit()
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": MIGRATION_LOCK_KEY})
            conn.commit()
    engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported; run them against the database")
run_migrations_online()
