"""a supervision record's notes have a version, sent as its ETag and checked in If-Match

Revision ID: 0023_supervision_record_version
Revises: 0022_document_segments
Create Date: 2026-12-07 23:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023_supervision_record_version"
down_revision: str | None = "0022_document_segments"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The records already there start at version 1, as a new record does.
    with op.batch_alter_table("supervision_record", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("version", sa.Integer(), nullable=False, server_default=sa.text("1"))
        )


def downgrade() -> None:
    with op.batch_alter_table("supervision_record", schema=None) as batch_op:
        batch_op.drop_column("version")
