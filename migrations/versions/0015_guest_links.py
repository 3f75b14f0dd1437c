"""guest links: one-time links into one client session's lobby, for people without an account

Revision ID: 0015_guest_links
Revises: 0012_employer_contact_type
Create Date: 2026-12-07 13:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import app.dbtypes

revision: str = "0015_guest_links"
down_revision: str | None = "0014_notifications"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "meeting_guest_link",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("meeting_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("guest_name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("token_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("code_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=False),
        sa.Column("created_at", app.dbtypes.UtcDateTime(timezone=True), nullable=False),
        sa.Column("failed_attempts", sa.Integer(), nullable=False),
        sa.Column("used_at", app.dbtypes.UtcDateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", app.dbtypes.UtcDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["created_by"], ["user.id"]),
        sa.ForeignKeyConstraint(["meeting_id"], ["meeting.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    with op.batch_alter_table("meeting_guest_link", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_meeting_guest_link_meeting_id"), ["meeting_id"], unique=False
        )
    # A seat is a person's or a guest's (then user_id is empty and the link stands for them).
    with op.batch_alter_table("meeting_participant", schema=None) as batch_op:
        batch_op.alter_column("user_id", existing_type=sa.Uuid(), nullable=True)
        batch_op.add_column(sa.Column("guest_link_id", sa.Uuid(), nullable=True))
        batch_op.add_column(
            sa.Column("guest_kind", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True)
        )
        batch_op.add_column(
            sa.Column(
                "guest_name",
                sqlmodel.sql.sqltypes.AutoString(length=200),
                nullable=False,
                server_default="",
            )
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_meeting_participant_guest_link_id_meeting_guest_link"),
            "meeting_guest_link",
            ["guest_link_id"],
            ["id"],
        )


def downgrade() -> None:
    # Guests' seats have no person to keep them for: they go with the links.
    op.execute("DELETE FROM meeting_participant WHERE user_id IS NULL")
    with op.batch_alter_table("meeting_participant", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_meeting_participant_guest_link_id_meeting_guest_link"),
            type_="foreignkey",
        )
        batch_op.drop_column("guest_name")
        batch_op.drop_column("guest_kind")
        batch_op.drop_column("guest_link_id")
        batch_op.alter_column("user_id", existing_type=sa.Uuid(), nullable=False)
    with op.batch_alter_table("meeting_guest_link", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_meeting_guest_link_meeting_id"))
    op.drop_table("meeting_guest_link")
