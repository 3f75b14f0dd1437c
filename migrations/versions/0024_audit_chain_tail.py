"""on PostgreSQL, the audit chain's lock and its tail in one round trip

Revision ID: 0024_audit_chain_tail
Revises: 0023_supervision_record_version
Create Date: 2026-12-08 03:30:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0024_audit_chain_tail"
down_revision: str | None = "0023_supervision_record_version"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Every audited write takes the chain's advisory lock and then reads the newest event's hash,
# which the lock holder's events link to. In one function so that both are one round trip: the
# lock is held until the writer's commit, and every audited write of every process waits for
# it, so each round trip under it is paid by all of them. Two statements inside a volatile
# function, not one SELECT of both: a statement's snapshot is taken before it waits for the
# lock, so one SELECT could read a tail that a writer just ahead committed past. Each statement
# of a volatile PL/pgSQL function takes a snapshot of its own (READ COMMITTED), after the lock.
CREATE = """
CREATE FUNCTION teamwell_audit_chain_tail(lock_key bigint) RETURNS text
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(lock_key);
    RETURN (SELECT hash FROM audit_event ORDER BY id DESC LIMIT 1);
END
$$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(CREATE)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION teamwell_audit_chain_tail(bigint)")
