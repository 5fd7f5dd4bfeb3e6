"""deliveries.doubted_at; digest_runs.unsent, retry_at, retries: sends whose outcome is not known

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 13:30:00

``doubted_at`` marks a delivery whose send ended without knowing whether it arrived (a read timeout,
a reset, an unreadable answer); it is sent once more, never again. A weekly digest run keeps the parts
(summary, chart, document) that did not reach a facilitator, to send those again later.
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0005'
down_revision: Union[str, Sequence[str], None] = '0004'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.add_column('deliveries', sa.Column('doubted_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('digest_runs', sa.Column('unsent', sa.Text(), nullable=True))
    op.add_column('digest_runs', sa.Column('retry_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('digest_runs', sa.Column('retries', sa.Integer(), nullable=False, server_default='0'))


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_column('digest_runs', 'retries')
    op.drop_column('digest_runs', 'retry_at')
    op.drop_column('digest_runs', 'unsent')
    op.drop_column('deliveries', 'doubted_at')
