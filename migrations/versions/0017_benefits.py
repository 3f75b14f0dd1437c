"""benefits and eligibility: a client's benefit claims, better-off calculations, and the
eligibility answers (and verdict) of a referral

Revision ID: 0017_benefits
Revises: 0015_guest_links
Create Date: 2026-12-07 14:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import app.dbtypes

revision: str = "0017_benefits"
down_revision: str | None = "0015_guest_links"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "benefit_claim",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("client_id", sa.Uuid(), nullable=False),
        sa.Column("benefit", sa.String(length=32), nullable=False),
        sa.Column("esa_group", sa.String(length=32), nullable=True),
        sa.Column("uc_regime", sa.String(length=32), nullable=True),
        sa.Column("other_name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("started_on", sa.Date(), nullable=False),
        sa.Column("ended_on", sa.Date(), nullable=True),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("recorded_by", sa.Uuid(), nullable=False),
        sa.Column("recorded_at", app.dbtypes.UtcDateTime(timezone=True), nullable=False),
        sa.Column("ended_by", sa.Uuid(), nullable=True),
        sa.Column("ended_at", app.dbtypes.UtcDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["client_id"], ["client_record.id"]),
        sa.ForeignKeyConstraint(["ended_by"], ["user.id"]),
        sa.ForeignKeyConstraint(["recorded_by"], ["user.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("benefit_claim", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_benefit_claim_client_id"), ["client_id"], unique=False)
    op.create_table(
        "benefit_better_off_calculation",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("client_id", sa.Uuid(), nullable=False),
        sa.Column("done_on", sa.Date(), nullable=False),
        sa.Column("outcome", sa.String(length=32), nullable=False),
        sa.Column("hours_modelled", sa.Float(), nullable=True),
        sa.Column("recorded_by", sa.Uuid(), nullable=False),
        sa.Column("recorded_at", app.dbtypes.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["client_id"], ["client_record.id"]),
        sa.ForeignKeyConstraint(["recorded_by"], ["user.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("benefit_better_off_calculation", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_benefit_better_off_calculation_client_id"), ["client_id"], unique=False
        )
    op.create_table(
        "referral_eligibility_answer",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("referral_id", sa.Uuid(), nullable=False),
        sa.Column("question_key", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("question_text", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column("answer", sa.Boolean(), nullable=False),
        sa.Column("recorded_by", sa.Uuid(), nullable=True),
        sa.Column("recorded_at", app.dbtypes.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["recorded_by"], ["user.id"]),
        sa.ForeignKeyConstraint(["referral_id"], ["referral.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("referral_eligibility_answer", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_referral_eligibility_answer_referral_id"), ["referral_id"], unique=False
        )
    with op.batch_alter_table("referral", schema=None) as batch_op:
        batch_op.add_column(sa.Column("eligible", sa.Boolean(), nullable=True))
        batch_op.add_column(
            sa.Column(
                "ineligible_reason", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("referral", schema=None) as batch_op:
        batch_op.drop_column("ineligible_reason")
        batch_op.drop_column("eligible")
    with op.batch_alter_table("referral_eligibility_answer", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_referral_eligibility_answer_referral_id"))
    op.drop_table("referral_eligibility_answer")
    with op.batch_alter_table("benefit_better_off_calculation", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_benefit_better_off_calculation_client_id"))
    op.drop_table("benefit_better_off_calculation")
    with op.batch_alter_table("benefit_claim", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_benefit_claim_client_id"))
    op.drop_table("benefit_claim")
