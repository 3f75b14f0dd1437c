"""a risk alert nobody on or over the care team may see is escalated to the organisation's
supervisors, and marked so

Revision ID: 0010_risk_alert_escalation
Revises: 0009_supervision_acceptance
Create Date: 2026-12-08 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_risk_alert_escalation"
down_revision: str | None = "0009_supervision_acceptance"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("alert", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("escalated", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("alert", schema=None) as batch_op:
        batch_op.drop_column("escalated")
