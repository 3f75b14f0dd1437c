"""brokerage: job quality on job starts (pay, wage threshold, contract, competitive, sector)

Revision ID: 0018_brokerage
Revises: 0015_guest_links
Create Date: 2026-12-07 14:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0018_brokerage"
down_revision: str | None = "0015_guest_links"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Jobs recorded before quality was asked were all competitive jobs (the journey recorded
    # nothing else), so they stay counted in sustainment.
    with op.batch_alter_table("ips_job", schema=None) as batch_op:
        batch_op.add_column(sa.Column("hourly_pay_pence", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("wage_threshold_pence", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("contract_type", sa.String(length=32), nullable=True))
        batch_op.add_column(
            sa.Column("competitive", sa.Boolean(), nullable=False, server_default=sa.true())
        )
        batch_op.add_column(
            sa.Column("sector", sqlmodel.sql.sqltypes.AutoString(length=1), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("ips_job", schema=None) as batch_op:
        batch_op.drop_column("sector")
        batch_op.drop_column("competitive")
        batch_op.drop_column("contract_type")
        batch_op.drop_column("wage_threshold_pence")
        batch_op.drop_column("hourly_pay_pence")
