"""the gentle calendar: processes.holidays, processes.no_send, processes.reminders_per_week

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 13:40:00

Processes created before this revision keep their behaviour: no holiday calendar, no no-send dates
and no cap on reminders. New and re-uploaded process files get the file's values (defaults:
holidays fi, one reminder a week).
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0004'
down_revision: Union[str, Sequence[str], None] = '0003'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table('processes') as batch:
        batch.add_column(sa.Column('holidays', sa.String(length=8), nullable=True))
        batch.add_column(sa.Column('no_send', sa.JSON(), nullable=False, server_default='[]'))
        batch.add_column(sa.Column('reminders_per_week', sa.Integer(), nullable=True))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('processes') as batch:
        batch.drop_column('reminders_per_week')
        batch.drop_column('no_send')
        batch.drop_column('holidays')
