"""pairs across organisations: opt-ins, rounds, pairs, their members and relayed messages

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 15:20:00

New tables only; erasing a participant or a process cascades to them (and /forget and the
retention purge delete them explicitly as well).
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0009'
down_revision: Union[str, Sequence[str], None] = '0008'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table('pair_optins',
    sa.Column('membership_id', sa.Integer(), nullable=False),
    sa.Column('process_id', sa.Integer(), nullable=False),
    sa.Column('first_name', sa.String(length=64), nullable=False),
    sa.Column('consented_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('told_round', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['membership_id'], ['memberships.id'], name=op.f('fk_pair_optins_membership_id_memberships'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['process_id'], ['processes.id'], name=op.f('fk_pair_optins_process_id_processes'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('membership_id', name=op.f('pk_pair_optins'))
    )
    op.create_index(op.f('ix_pair_optins_process_id'), 'pair_optins', ['process_id'], unique=False)
    op.create_table('pair_rounds',
    sa.Column('process_id', sa.Integer(), nullable=False),
    sa.Column('workshop', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('phase', sa.Integer(), nullable=False),
    sa.Column('pairs_made', sa.Integer(), nullable=False),
    sa.Column('ran_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['process_id'], ['processes.id'], name=op.f('fk_pair_rounds_process_id_processes'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('process_id', 'workshop', name=op.f('pk_pair_rounds'))
    )
    op.create_table('pairs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('process_id', sa.Integer(), nullable=False),
    sa.Column('workshop', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['process_id'], ['processes.id'], name=op.f('fk_pairs_process_id_processes'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pairs'))
    )
    op.create_index(op.f('ix_pairs_process_id'), 'pairs', ['process_id'], unique=False)
    op.create_table('pair_members',
    sa.Column('pair_id', sa.Integer(), nullable=False),
    sa.Column('membership_id', sa.Integer(), nullable=False),
    sa.Column('first_name', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['membership_id'], ['memberships.id'], name=op.f('fk_pair_members_membership_id_memberships'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['pair_id'], ['pairs.id'], name=op.f('fk_pair_members_pair_id_pairs'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('pair_id', 'membership_id', name=op.f('pk_pair_members'))
    )
    op.create_index(op.f('ix_pair_members_membership_id'), 'pair_members', ['membership_id'], unique=False)
    op.create_table('pair_messages',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('pair_id', sa.Integer(), nullable=False),
    sa.Column('sender_id', sa.Integer(), nullable=True),
    sa.Column('prompt_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['pair_id'], ['pairs.id'], name=op.f('fk_pair_messages_pair_id_pairs'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['prompt_id'], ['prompts.id'], name=op.f('fk_pair_messages_prompt_id_prompts'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['sender_id'], ['memberships.id'], name=op.f('fk_pair_messages_sender_id_memberships'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pair_messages'))
    )
    op.create_index(op.f('ix_pair_messages_pair_id'), 'pair_messages', ['pair_id'], unique=False)
    op.create_index(op.f('ix_pair_messages_prompt_id'), 'pair_messages', ['prompt_id'], unique=False)
    op.create_index(op.f('ix_pair_messages_sender_id'), 'pair_messages', ['sender_id'], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table('pair_messages')
    op.drop_table('pair_members')
    op.drop_table('pairs')
    op.drop_table('pair_rounds')
    op.drop_table('pair_optins')
