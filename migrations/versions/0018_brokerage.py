"""brokerage: job quality on job starts (pay, wage threshold, contract, competitive, sector);
employer directory, vacancies, applications; employer contacts logged against an employer

Revision ID: 0018_brokerage
Revises: 0017_benefits
Create Date: 2026-12-07 14:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import app.dbtypes

revision: str = "0018_brokerage"
down_revision: str | None = "0017_benefits"
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

    op.create_table(
        "employer",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("organisation_id", sa.Uuid(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("sector", sqlmodel.sql.sqltypes.AutoString(length=1), nullable=True),
        sa.Column("location", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("created_by", sa.Uuid(), nullable=False),
        sa.Column("created_at", app.dbtypes.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["created_by"], ["user.id"]),
        sa.ForeignKeyConstraint(["organisation_id"], ["organisation.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("employer", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_employer_organisation_id"), ["organisation_id"], unique=False
        )
    op.create_table(
        "vacancy",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("employer_id", sa.Uuid(), nullable=False),
        sa.Column("title", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("hours_per_week", sa.Float(), nullable=False),
        sa.Column("hourly_pay_pence", sa.Integer(), nullable=True),
        sa.Column("location", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("closing_on", sa.Date(), nullable=True),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=False),
        sa.Column("created_at", app.dbtypes.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["created_by"], ["user.id"]),
        sa.ForeignKeyConstraint(["employer_id"], ["employer.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("vacancy", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_vacancy_employer_id"), ["employer_id"], unique=False)
    op.create_table(
        "vacancy_application",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("client_id", sa.Uuid(), nullable=False),
        sa.Column("vacancy_id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("applied_on", sa.Date(), nullable=False),
        sa.Column("status_on", sa.Date(), nullable=False),
        sa.Column("job_id", sa.Uuid(), nullable=True),
        sa.Column("recorded_by", sa.Uuid(), nullable=False),
        sa.Column("recorded_at", app.dbtypes.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["client_id"], ["client_record.id"]),
        sa.ForeignKeyConstraint(["job_id"], ["ips_job.id"]),
        sa.ForeignKeyConstraint(["recorded_by"], ["user.id"]),
        sa.ForeignKeyConstraint(["vacancy_id"], ["vacancy.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("vacancy_application", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_vacancy_application_client_id"), ["client_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_vacancy_application_vacancy_id"), ["vacancy_id"], unique=False
        )
    with op.batch_alter_table("employer_contact", schema=None) as batch_op:
        batch_op.add_column(sa.Column("employer_id", sa.Uuid(), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_employer_contact_employer_id"), ["employer_id"], unique=False
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_employer_contact_employer_id_employer"),
            "employer",
            ["employer_id"],
            ["id"],
        )


def downgrade() -> None:
    with op.batch_alter_table("employer_contact", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_employer_contact_employer_id_employer"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_employer_contact_employer_id"))
        batch_op.drop_column("employer_id")
    op.drop_table("vacancy_application")
    op.drop_table("vacancy")
    op.drop_table("employer")
    with op.batch_alter_table("ips_job", schema=None) as batch_op:
        batch_op.drop_column("sector")
        batch_op.drop_column("competitive")
        batch_op.drop_column("contract_type")
        batch_op.drop_column("wage_threshold_pence")
        batch_op.drop_column("hourly_pay_pence")
