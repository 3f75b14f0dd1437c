"""scheduled work: the jobs table the runner claims from (app/jobs)

Revision ID: 0013_jobs
Revises: 0012_employer_contact_type
Create Date: 2026-12-07 13:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.dbtypes

revision: str = "0013_jobs"
down_revision: str | None = "0012_employer_contact_type"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "scheduled_job",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("organisation_id", sa.Uuid(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("run_at", app.dbtypes.UtcDateTime(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("claimed_by", sa.String(length=64), nullable=True),
        sa.Column("lease_until", app.dbtypes.UtcDateTime(), nullable=True),
        sa.Column("last_error", sa.String(length=200), nullable=True),
        sa.Column("created_at", app.dbtypes.UtcDateTime(), nullable=False),
        sa.Column("finished_at", app.dbtypes.UtcDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisation.id"],
            name=op.f("fk_scheduled_job_organisation_id_organisation"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scheduled_job")),
        sa.UniqueConstraint("key", name=op.f("uq_scheduled_job_key")),
    )
    with op.batch_alter_table("scheduled_job", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_scheduled_job_kind"), ["kind"], unique=False)
        batch_op.create_index(batch_op.f("ix_scheduled_job_status"), ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_scheduled_job_run_at"), ["run_at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_scheduled_job_finished_at"), ["finished_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("scheduled_job", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_scheduled_job_finished_at"))
        batch_op.drop_index(batch_op.f("ix_scheduled_job_run_at"))
        batch_op.drop_index(batch_op.f("ix_scheduled_job_status"))
        batch_op.drop_index(batch_op.f("ix_scheduled_job_kind"))
    op.drop_table("scheduled_job")
