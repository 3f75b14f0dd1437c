"""team memberships are proposed, then confirmed by someone already on the team

Revision ID: 0011_team_membership_confirm
Revises: 0010_risk_alert_escalation
Create Date: 2026-12-07 08:00:00

Memberships made before this revision were in force: they are marked confirmed when they
began (by nobody), so teams go on as they were. Admins should review them (the audit trail
names who added each, ``team.member_add``).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.dbtypes

revision: str = "0011_team_membership_confirm"  # alembic_version holds 32 characters
down_revision: str | None = "0010_risk_alert_escalation"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("team_membership", schema=None) as batch_op:
        batch_op.add_column(sa.Column("proposed_by", sa.Uuid(), nullable=True))
        batch_op.add_column(
            sa.Column("confirmed_at", app.dbtypes.UtcDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("confirmed_by", sa.Uuid(), nullable=True))
        batch_op.create_foreign_key(
            "fk_team_membership_proposed_by_user", "user", ["proposed_by"], ["id"]
        )
        batch_op.create_foreign_key(
            "fk_team_membership_confirmed_by_user", "user", ["confirmed_by"], ["id"]
        )
    op.execute("UPDATE team_membership SET confirmed_at = since")


def downgrade() -> None:
    # Pending proposals were never in force: they go, rather than become memberships.
    op.execute("DELETE FROM team_membership WHERE confirmed_at IS NULL")
    with op.batch_alter_table("team_membership", schema=None) as batch_op:
        batch_op.drop_constraint("fk_team_membership_confirmed_by_user", type_="foreignkey")
        batch_op.drop_constraint("fk_team_membership_proposed_by_user", type_="foreignkey")
        batch_op.drop_column("confirmed_by")
        batch_op.drop_column("confirmed_at")
        batch_op.drop_column("proposed_by")
