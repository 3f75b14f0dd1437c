"""supervision links are proposed, then accepted by the supervisee

Revision ID: 0009_supervision_acceptance
Revises: 0008
Create Date: 2026-12-08 10:00:00

Links made before this revision were in force: they are marked accepted when they began, so
supervision goes on as it was. Admins should review them (the audit trail names who assigned
each, ``user.supervisor_assign``).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.dbtypes

revision: str = "0009_supervision_acceptance"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("supervision_link", schema=None) as batch_op:
        batch_op.add_column(sa.Column("proposed_by", sa.Uuid(), nullable=True))
        batch_op.add_column(
            sa.Column("accepted_at", app.dbtypes.UtcDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("declined_at", app.dbtypes.UtcDateTime(timezone=True), nullable=True)
        )
        batch_op.create_foreign_key(
            "fk_supervision_link_proposed_by_user", "user", ["proposed_by"], ["id"]
        )
    op.execute("UPDATE supervision_link SET accepted_at = since")


def downgrade() -> None:
    # Pending and declined proposals were never in force: they go, rather than become links.
    op.execute("DELETE FROM supervision_link WHERE accepted_at IS NULL")
    with op.batch_alter_table("supervision_link", schema=None) as batch_op:
        batch_op.drop_constraint("fk_supervision_link_proposed_by_user", type_="foreignkey")
        batch_op.drop_column("declined_at")
        batch_op.drop_column("accepted_at")
        batch_op.drop_column("proposed_by")
