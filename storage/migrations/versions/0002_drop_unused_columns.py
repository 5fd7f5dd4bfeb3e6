"""drop columns nothing reads: submissions.ack_message_id, deliveries.answered_at

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 11:15:00

``ack_message_id`` was never written; ``answered_at`` only repeated the answer's own ``created_at``.
Plain ``ALTER TABLE … DROP COLUMN`` on both backends (SQLite 3.35+), not a batch copy: on SQLite a
batch would drop and recreate the tables, and with foreign keys on that drop cascades to supports
and nulls submissions' delivery ids.
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0002'
down_revision: Union[str, Sequence[str], None] = '0001'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.drop_column('submissions', 'ack_message_id')
    op.drop_column('deliveries', 'answered_at')


def downgrade() -> None:
    """Downgrade schema."""
    op.add_column('deliveries', sa.Column('answered_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('submissions', sa.Column('ack_message_id', sa.BigInteger(), nullable=True))
