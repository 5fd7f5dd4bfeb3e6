"""processes.invites_until: when the participant invite link stops working

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 14:10:00

Both invite links stop at the process end; ``invites_until:`` in the process file can stop the
participant link earlier. Existing processes get none (their links stop at the end).
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0008'
down_revision: Union[str, Sequence[str], None] = '0007'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.add_column('processes', sa.Column('invites_until', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_column('processes', 'invites_until')
