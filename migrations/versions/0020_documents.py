"""documents: files on a record, in a conversation or a meeting, their versions and uploads

Revision ID: 0020_documents
Revises: 0019_equality
Create Date: 2026-12-07 16:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import app.dbtypes

revision: str = "0020_documents"
down_revision: str | None = "0019_equality"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "document",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("place", sa.String(length=16), nullable=False),
        sa.Column("client_id", sa.Uuid(), nullable=True),
        sa.Column("conversation_id", sa.Uuid(), nullable=True),
        sa.Column("meeting_id", sa.Uuid(), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("title", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("shared_with_client", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=False),
        sa.Column("created_at", app.dbtypes.UtcDateTime(timezone=True), nullable=False),
        sa.Column("latest_version", sa.Integer(), nullable=False),
        sa.Column("deleted_at", app.dbtypes.UtcDateTime(timezone=True), nullable=True),
        sa.Column("deleted_by", sa.Uuid(), nullable=True),
        sa.Column("delete_reason", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["client_record.id"],
        ),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversation.id"],
        ),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["user.id"],
        ),
        sa.ForeignKeyConstraint(
            ["deleted_by"],
            ["user.id"],
        ),
        sa.ForeignKeyConstraint(
            ["meeting_id"],
            ["meeting.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("document", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_document_client_id"), ["client_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_document_conversation_id"), ["conversation_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_document_meeting_id"), ["meeting_id"], unique=False)

    op.create_table(
        "document_upload",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("uploader_id", sa.Uuid(), nullable=False),
        sa.Column("place", sa.String(length=16), nullable=False),
        sa.Column("client_id", sa.Uuid(), nullable=True),
        sa.Column("conversation_id", sa.Uuid(), nullable=True),
        sa.Column("meeting_id", sa.Uuid(), nullable=True),
        sa.Column("document_id", sa.Uuid(), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("title", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("shared_with_client", sa.Boolean(), nullable=False),
        sa.Column("filename", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("chunk_bytes", sa.Integer(), nullable=False),
        sa.Column("received_bytes", sa.BigInteger(), nullable=False),
        sa.Column("created_at", app.dbtypes.UtcDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", app.dbtypes.UtcDateTime(timezone=True), nullable=False),
        sa.Column("completed_at", app.dbtypes.UtcDateTime(timezone=True), nullable=True),
        sa.Column("key_id", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
        sa.Column("wrapped_key", sa.LargeBinary(), nullable=True),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["client_record.id"],
        ),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversation.id"],
        ),
        sa.ForeignKeyConstraint(
            ["document_id"],
            ["document.id"],
        ),
        sa.ForeignKeyConstraint(
            ["meeting_id"],
            ["meeting.id"],
        ),
        sa.ForeignKeyConstraint(
            ["uploader_id"],
            ["user.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("document_upload", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_document_upload_created_at"), ["created_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_document_upload_uploader_id"), ["uploader_id"], unique=False
        )

    op.create_table(
        "document_version",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("document_id", sa.Uuid(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("filename", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("media_type", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("previewable", sa.Boolean(), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("uploaded_by", sa.Uuid(), nullable=False),
        sa.Column("uploaded_at", app.dbtypes.UtcDateTime(timezone=True), nullable=False),
        sa.Column("scan_status", sa.String(length=16), nullable=False),
        sa.Column("scanned_at", app.dbtypes.UtcDateTime(timezone=True), nullable=True),
        sa.Column("scan_signature", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("object_key", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("removed_at", app.dbtypes.UtcDateTime(timezone=True), nullable=True),
        sa.Column("key_id", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
        sa.Column("wrapped_key", sa.LargeBinary(), nullable=True),
        sa.ForeignKeyConstraint(
            ["document_id"],
            ["document.id"],
        ),
        sa.ForeignKeyConstraint(
            ["uploaded_by"],
            ["user.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("document_id", "number"),
    )
    with op.batch_alter_table("document_version", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_document_version_document_id"), ["document_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("document_version", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_document_version_document_id"))

    op.drop_table("document_version")
    with op.batch_alter_table("document_upload", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_document_upload_uploader_id"))
        batch_op.drop_index(batch_op.f("ix_document_upload_created_at"))

    op.drop_table("document_upload")
    with op.batch_alter_table("document", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_document_meeting_id"))
        batch_op.drop_index(batch_op.f("ix_document_conversation_id"))
        batch_op.drop_index(batch_op.f("ix_document_client_id"))

    op.drop_table("document")
