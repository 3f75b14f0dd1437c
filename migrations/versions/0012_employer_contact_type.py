"""employer contacts say how the employer was reached

Revision ID: 0012_employer_contact_type
Revises: 0011_team_membership_confirm
Create Date: 2026-12-07 08:30:00

Contacts logged before this revision have no type (null): nobody recorded it, and guessing would
put contacts into the face-to-face count that may not have been.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012_employer_contact_type"
down_revision: str | None = "0011_team_membership_confirm"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("employer_contact", schema=None) as batch_op:
        batch_op.add_column(sa.Column("contact_type", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("employer_contact", schema=None) as batch_op:
        batch_op.drop_column("contact_type")
