"""drop prompts.when_text and prompts.closes_after_s: written, never read

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 12:10:00

Both only repeated the programme file (``processes.source_yaml``) and what ``due_at`` and
``closes_at`` already say. Plain ``DROP COLUMN`` for the reason given in 0002.
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0003'
down_revision: Union[str, Sequence[str], None] = '0002'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.drop_column('prompts', 'when_text')
    op.drop_column('prompts', 'closes_after_s')


def downgrade() -> None:
    """Downgrade schema."""
    op.add_column('prompts', sa.Column('closes_after_s', sa.Integer(), nullable=True))
    op.add_column('prompts', sa.Column('when_text', sa.String(length=64), nullable=False, server_default=''))
