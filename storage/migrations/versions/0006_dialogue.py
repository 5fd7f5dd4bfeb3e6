"""dialogue across silos: shares, their copies, recognitions, responses, sharing preferences

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 13:21:10

New tables only; erasing a participant or a process cascades to all of them (and /forget and the
retention purge delete them explicitly as well).

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa



# revision identifiers, used by Alembic.
revision: str = '0006'
down_revision: Union[str, Sequence[str], None] = '0005'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table('sharing_prefs',
    sa.Column('membership_id', sa.Integer(), nullable=False),
    sa.Column('level', sa.String(length=16), nullable=True),
    sa.Column('confirmed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('muted', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['membership_id'], ['memberships.id'], name=op.f('fk_sharing_prefs_membership_id_memberships'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('membership_id', name=op.f('pk_sharing_prefs'))
    )
    op.create_table('recognitions',
    sa.Column('submission_id', sa.Integer(), nullable=False),
    sa.Column('membership_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['membership_id'], ['memberships.id'], name=op.f('fk_recognitions_membership_id_memberships'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['submission_id'], ['submissions.id'], name=op.f('fk_recognitions_submission_id_submissions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('submission_id', 'membership_id', name=op.f('pk_recognitions'))
    )
    with op.batch_alter_table('recognitions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_recognitions_membership_id'), ['membership_id'], unique=False)

    op.create_table('responses',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('process_id', sa.Integer(), nullable=False),
    sa.Column('submission_id', sa.Integer(), nullable=False),
    sa.Column('sender_id', sa.Integer(), nullable=False),
    sa.Column('recipient_id', sa.Integer(), nullable=False),
    sa.Column('parent_id', sa.Integer(), nullable=True),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('level', sa.String(length=16), nullable=False),
    sa.Column('prompt_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['parent_id'], ['responses.id'], name=op.f('fk_responses_parent_id_responses'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['process_id'], ['processes.id'], name=op.f('fk_responses_process_id_processes'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['prompt_id'], ['prompts.id'], name=op.f('fk_responses_prompt_id_prompts'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['recipient_id'], ['memberships.id'], name=op.f('fk_responses_recipient_id_memberships'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['sender_id'], ['memberships.id'], name=op.f('fk_responses_sender_id_memberships'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['submission_id'], ['submissions.id'], name=op.f('fk_responses_submission_id_submissions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_responses'))
    )
    with op.batch_alter_table('responses', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_responses_process_id'), ['process_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_responses_recipient_id'), ['recipient_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_responses_sender_id'), ['sender_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_responses_submission_id'), ['submission_id'], unique=False)

    op.create_table('shared_copies',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('submission_id', sa.Integer(), nullable=True),
    sa.Column('membership_id', sa.Integer(), nullable=False),
    sa.Column('chat_id', sa.BigInteger(), nullable=False),
    sa.Column('message_id', sa.BigInteger(), nullable=False),
    sa.Column('media', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['membership_id'], ['memberships.id'], name=op.f('fk_shared_copies_membership_id_memberships'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['submission_id'], ['submissions.id'], name=op.f('fk_shared_copies_submission_id_submissions'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_shared_copies'))
    )
    with op.batch_alter_table('shared_copies', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_shared_copies_membership_id'), ['membership_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_shared_copies_submission_id'), ['submission_id'], unique=False)

    op.create_table('shares',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('submission_id', sa.Integer(), nullable=False),
    sa.Column('membership_id', sa.Integer(), nullable=False),
    sa.Column('process_id', sa.Integer(), nullable=False),
    sa.Column('level', sa.String(length=16), nullable=False),
    sa.Column('ack_chat_id', sa.BigInteger(), nullable=True),
    sa.Column('ack_message_id', sa.BigInteger(), nullable=True),
    sa.Column('ack_count_shown', sa.Integer(), nullable=False),
    sa.Column('ack_edited_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['membership_id'], ['memberships.id'], name=op.f('fk_shares_membership_id_memberships'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['process_id'], ['processes.id'], name=op.f('fk_shares_process_id_processes'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['submission_id'], ['submissions.id'], name=op.f('fk_shares_submission_id_submissions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_shares')),
    sa.UniqueConstraint('submission_id', name=op.f('uq_shares_submission_id'))
    )
    with op.batch_alter_table('shares', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_shares_membership_id'), ['membership_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_shares_process_id'), ['process_id'], unique=False)



def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('shares', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_shares_process_id'))
        batch_op.drop_index(batch_op.f('ix_shares_membership_id'))

    op.drop_table('shares')
    with op.batch_alter_table('shared_copies', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_shared_copies_submission_id'))
        batch_op.drop_index(batch_op.f('ix_shared_copies_membership_id'))

    op.drop_table('shared_copies')
    with op.batch_alter_table('responses', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_responses_submission_id'))
        batch_op.drop_index(batch_op.f('ix_responses_sender_id'))
        batch_op.drop_index(batch_op.f('ix_responses_recipient_id'))
        batch_op.drop_index(batch_op.f('ix_responses_process_id'))

    op.drop_table('responses')
    with op.batch_alter_table('recognitions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_recognitions_membership_id'))

    op.drop_table('recognitions')
    op.drop_table('sharing_prefs')
