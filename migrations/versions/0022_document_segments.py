"""documents stored in segments, each sealed as it arrives

Revision ID: 0022_document_segments
Revises: 0021_delivery_claims
Create Date: 2026-12-07 19:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022_document_segments"
down_revision: str | None = "0021_delivery_claims"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Both nullable: the rows already there are the whole-object format and the old uploads.
    with op.batch_alter_table("document_version", schema=None) as batch_op:
        batch_op.add_column(sa.Column("segment_bytes", sa.Integer(), nullable=True))
    with op.batch_alter_table("document_upload", schema=None) as batch_op:
        batch_op.add_column(sa.Column("segmented", sa.Boolean(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("document_upload", schema=None) as batch_op:
        batch_op.drop_column("segmented")
    with op.batch_alter_table("document_version", schema=None) as batch_op:
        batch_op.drop_column("segment_bytes")
