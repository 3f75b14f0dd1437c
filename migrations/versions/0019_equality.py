"""equality monitoring: a client's optional answers, sealed; quarterly targets

Revision ID: 0019_equality
Revises: 0018_brokerage
Create Date: 2026-12-07 14:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import app.dbtypes

revision: str = "0019_equality"
down_revision: str | None = "0018_brokerage"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "equality_profile",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("client_id", sa.Uuid(), nullable=False),
        sa.Column("answers_key_id", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("answers_ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("entered_by", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("consent_recorded_by", sa.Uuid(), nullable=False),
        sa.Column("consent_recorded_at", app.dbtypes.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", app.dbtypes.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["client_id"], ["client_record.id"]),
        sa.ForeignKeyConstraint(["consent_recorded_by"], ["user.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("client_id"),
    )
    op.create_table(
        "report_target",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("scope_kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("scope_id", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("quarter", sqlmodel.sql.sqltypes.AutoString(length=7), nullable=False),
        sa.Column("measure", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("target", sa.Integer(), nullable=False),
        sa.Column("set_by", sa.Uuid(), nullable=False),
        sa.Column("set_at", app.dbtypes.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["set_by"], ["user.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("scope_kind", "scope_id", "quarter", "measure"),
    )


def downgrade() -> None:
    op.drop_table("report_target")
    op.drop_table("equality_profile")
