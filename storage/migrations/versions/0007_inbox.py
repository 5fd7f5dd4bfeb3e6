"""the durable inbox: inbox and inbox_claims replace processed_updates

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 13:40:00

Every update is written to ``inbox`` before it is acknowledged and handled from there. The update
ids remembered in ``processed_updates`` become handled inbox rows, so a redelivery across the
upgrade is still recognised.
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0007'
down_revision: Union[str, Sequence[str], None] = '0006'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table('inbox',
    sa.Column('update_id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('user_id', sa.BigInteger(), nullable=True),
    sa.Column('body', sa.Text(), nullable=True),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('handled_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('update_id', name=op.f('pk_inbox'))
    )
    with op.batch_alter_table('inbox', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_inbox_received_at'), ['received_at'], unique=False)
        batch_op.create_index(
            'ix_inbox_unhandled',
            ['user_id', 'update_id'],
            unique=False,
            postgresql_where=sa.text('handled_at IS NULL'),
            sqlite_where=sa.text('handled_at IS NULL'),
        )
    op.create_table('inbox_claims',
    sa.Column('user_id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('instance', sa.String(length=200), nullable=False),
    sa.Column('claimed_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('user_id', name=op.f('pk_inbox_claims'))
    )
    with op.batch_alter_table('inbox_claims', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_inbox_claims_instance'), ['instance'], unique=False)
    op.execute(
        'INSERT INTO inbox (update_id, received_at, handled_at) '
        'SELECT update_id, received_at, received_at FROM processed_updates'
    )
    with op.batch_alter_table('processed_updates', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_processed_updates_received_at'))
    op.drop_table('processed_updates')


def downgrade() -> None:
    """Downgrade schema."""
    op.create_table('processed_updates',
    sa.Column('update_id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('update_id', name=op.f('pk_processed_updates'))
    )
    with op.batch_alter_table('processed_updates', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_processed_updates_received_at'), ['received_at'], unique=False)
    op.execute('INSERT INTO processed_updates (update_id, received_at) SELECT update_id, received_at FROM inbox')
    with op.batch_alter_table('inbox_claims', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_inbox_claims_instance'))
    op.drop_table('inbox_claims')
    with op.batch_alter_table('inbox', schema=None) as batch_op:
        batch_op.drop_index('ix_inbox_unhandled')
        batch_op.drop_index(batch_op.f('ix_inbox_received_at'))
    op.drop_table('inbox')
