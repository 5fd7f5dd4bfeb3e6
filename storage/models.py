"""The database schema of Välitupa.

Times are stored in UTC. SQLite keeps them as naive text, so :class:`UTCDateTime` puts the zone back
on the way out; PostgreSQL keeps ``timestamptz``. Deleting a process, a membership or a user cascades,
which is what ``/forget`` and the retention purge rely on.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """An aware UTC datetime on both backends; naive values are refused rather than guessed."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; use an aware UTC datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON(),
        list[Any]: JSON(),
    }


class User(Base):
    """A Telegram user. Before consent only the id and the consent state exist."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    consent: Mapped[str] = mapped_column(String(16), default="pending")
    consent_at: Mapped[datetime | None]
    language: Mapped[str | None] = mapped_column(String(8))
    # Not a foreign key: users and memberships would reference each other in a cycle.
    active_membership_id: Mapped[int | None] = mapped_column(Integer)
    # The open dialogue (joining, /idea, /experiment…) as JSON, so it survives a restart.
    state: Mapped[dict[str, Any] | None]
    created_at: Mapped[datetime]

    memberships: Mapped[list[Membership]] = relationship(
        back_populates="user", cascade="all, delete-orphan", foreign_keys="Membership.user_id"
    )


class Process(Base):
    __tablename__ = "processes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    language: Mapped[str] = mapped_column(String(8), default="fi")
    timezone: Mapped[str] = mapped_column(String(64), default="Europe/Helsinki")
    participant_code: Mapped[str] = mapped_column(String(32), unique=True)
    facilitator_code: Mapped[str] = mapped_column(String(32), unique=True)
    quiet_start: Mapped[str | None] = mapped_column(String(5))
    quiet_end: Mapped[str | None] = mapped_column(String(5))
    skip_weekends: Mapped[bool] = mapped_column(Boolean, default=True)
    # The public-holiday calendar ("fi") or None; no_send: ["2027-02-22..2027-02-26", "2027-04-30"].
    holidays: Mapped[str | None] = mapped_column(String(8), default="fi")
    no_send: Mapped[list[Any]] = mapped_column(JSON, default=list)
    daily_cap: Mapped[int | None] = mapped_column(Integer)
    # The programme's automatic reminders per local calendar week; None: no cap.
    reminders_per_week: Mapped[int | None] = mapped_column(Integer)
    digest_spec: Mapped[str] = mapped_column(String(32), default="mon 08:00")
    min_group: Mapped[int] = mapped_column(Integer, default=3)
    retention_days: Mapped[int] = mapped_column(Integer, default=180)
    end_at: Mapped[datetime]
    source_yaml: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime]
    created_by: Mapped[int | None] = mapped_column(BigInteger)
    last_digest_at: Mapped[datetime | None]
    retention_warned_at: Mapped[datetime | None]
    # The participant link stops working then (``invites_until:``); both links stop at ``end_at``.
    invites_until: Mapped[datetime | None]

    organisations: Mapped[list[Organisation]] = relationship(
        back_populates="process", cascade="all, delete-orphan", order_by="Organisation.position"
    )
    workshops: Mapped[list[Workshop]] = relationship(
        back_populates="process", cascade="all, delete-orphan", order_by="Workshop.number"
    )


class Organisation(Base):
    __tablename__ = "organisations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    process_id: Mapped[int] = mapped_column(ForeignKey("processes.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    position: Mapped[int] = mapped_column(Integer, default=0)

    process: Mapped[Process] = relationship(back_populates="organisations")


class Workshop(Base):
    __tablename__ = "workshops"
    __table_args__ = (UniqueConstraint("process_id", "number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    process_id: Mapped[int] = mapped_column(ForeignKey("processes.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    starts_at: Mapped[datetime]
    place: Mapped[str | None] = mapped_column(String(200))

    process: Mapped[Process] = relationship(back_populates="workshops")


class Membership(Base):
    """A user in a process, as a participant or a facilitator."""

    __tablename__ = "memberships"
    __table_args__ = (UniqueConstraint("process_id", "user_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    process_id: Mapped[int] = mapped_column(ForeignKey("processes.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    is_facilitator: Mapped[bool] = mapped_column(Boolean, default=False)
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id", ondelete="SET NULL"))
    role: Mapped[str | None] = mapped_column(String(16))
    pseudonym: Mapped[str] = mapped_column(String(16))
    display_name: Mapped[str | None] = mapped_column(String(128))
    show_name: Mapped[bool] = mapped_column(Boolean, default=False)
    paused: Mapped[bool] = mapped_column(Boolean, default=False)
    unreachable: Mapped[bool] = mapped_column(Boolean, default=False)
    complete: Mapped[bool] = mapped_column(Boolean, default=False)
    joined_at: Mapped[datetime]

    user: Mapped[User] = relationship(back_populates="memberships", foreign_keys=[user_id])
    process: Mapped[Process] = relationship()
    organisation: Mapped[Organisation | None] = relationship()


class Prompt(Base):
    """A programme item of a process, or an ad-hoc message (announcement, closing the loop)."""

    __tablename__ = "prompts"
    __table_args__ = (Index("ix_prompts_process_active", "process_id", "active"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    process_id: Mapped[int] = mapped_column(ForeignKey("processes.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(64))
    phase: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))
    texts: Mapped[dict[str, Any]]
    options: Mapped[list[Any]] = mapped_column(JSON, default=list)
    remind_after_s: Mapped[int | None] = mapped_column(Integer)
    position: Mapped[int] = mapped_column(Integer, default=0)
    due_at: Mapped[datetime]
    closes_at: Mapped[datetime | None]
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]


class Delivery(Base):
    """The outbox: one prompt to one participant, with its state and Telegram message id."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("prompt_id", "membership_id"),
        Index("ix_deliveries_state_due", "state", "due_at"),
        Index("ix_deliveries_remind", "remind_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    prompt_id: Mapped[int] = mapped_column(ForeignKey("prompts.id", ondelete="CASCADE"))
    membership_id: Mapped[int] = mapped_column(ForeignKey("memberships.id", ondelete="CASCADE"), index=True)
    # pending → sending → sent → answered; or expired, failed, cancelled, ambiguous, skipped.
    state: Mapped[str] = mapped_column(String(16), default="pending")
    due_at: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    claimed_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    chat_id: Mapped[int | None] = mapped_column(BigInteger)
    message_id: Mapped[int | None] = mapped_column(BigInteger)
    remind_at: Mapped[datetime | None]
    reminded_at: Mapped[datetime | None]
    reminder_message_id: Mapped[int | None] = mapped_column(BigInteger)
    last_error: Mapped[str | None] = mapped_column(String(200))
    # When a send of this row ended without knowing whether it arrived (it is sent once more only).
    doubted_at: Mapped[datetime | None]

    prompt: Mapped[Prompt] = relationship()
    membership: Mapped[Membership] = relationship()


class Submission(Base):
    """Whatever a participant sends: an observation, an idea, an answer or an experiment log entry."""

    __tablename__ = "submissions"
    __table_args__ = (
        Index("ix_submissions_process_created", "process_id", "created_at"),
        Index("ix_submissions_chat_message", "chat_id", "message_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    process_id: Mapped[int] = mapped_column(ForeignKey("processes.id", ondelete="CASCADE"))
    membership_id: Mapped[int] = mapped_column(ForeignKey("memberships.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    text: Mapped[str | None] = mapped_column(Text)
    media_type: Mapped[str | None] = mapped_column(String(16))
    file_id: Mapped[str | None] = mapped_column(String(256))
    theme: Mapped[str | None] = mapped_column(String(16))
    anonymous: Mapped[bool] = mapped_column(Boolean, default=False)
    hidden: Mapped[bool] = mapped_column(Boolean, default=False)
    chat_id: Mapped[int | None] = mapped_column(BigInteger)
    message_id: Mapped[int | None] = mapped_column(BigInteger)
    prompt_id: Mapped[int | None] = mapped_column(ForeignKey("prompts.id", ondelete="SET NULL"))
    delivery_id: Mapped[int | None] = mapped_column(ForeignKey("deliveries.id", ondelete="SET NULL"))
    choice: Mapped[str | None] = mapped_column(String(64))
    title: Mapped[str | None] = mapped_column(String(300))
    need: Mapped[str | None] = mapped_column(Text)
    partners: Mapped[str | None] = mapped_column(Text)
    first_experiment: Mapped[str | None] = mapped_column(Text)
    happened: Mapped[str | None] = mapped_column(Text)
    learned: Mapped[str | None] = mapped_column(Text)
    obstacles: Mapped[str | None] = mapped_column(Text)
    idea_id: Mapped[int | None] = mapped_column(ForeignKey("submissions.id", ondelete="SET NULL"))
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("submissions.id", ondelete="SET NULL"))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime | None]

    membership: Mapped[Membership] = relationship()


class Support(Base):
    __tablename__ = "supports"

    idea_id: Mapped[int] = mapped_column(ForeignKey("submissions.id", ondelete="CASCADE"), primary_key=True)
    membership_id: Mapped[int] = mapped_column(
        ForeignKey("memberships.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    created_at: Mapped[datetime]


class DigestRun(Base):
    __tablename__ = "digest_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    process_id: Mapped[int] = mapped_column(ForeignKey("processes.id", ondelete="CASCADE"), index=True)
    trigger: Mapped[str] = mapped_column(String(16))
    period_start: Mapped[datetime]
    period_end: Mapped[datetime]
    due_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    # A weekly run whose parts did not all reach a facilitator: {"chat id": ["chart", ...]}, as JSON.
    unsent: Mapped[str | None] = mapped_column(Text)
    retry_at: Mapped[datetime | None]
    retries: Mapped[int] = mapped_column(Integer, default=0)
    __table_args__ = (UniqueConstraint("process_id", "due_at"),)


class InboxUpdate(Base):
    """Every update from Telegram, written before it is acknowledged and handled from here.

    ``body`` (the update as Telegram sent it) and ``user_id`` are kept only until the update is
    handled; then only ``update_id`` (for deduplication of a redelivery) and the times stay, and the
    row is pruned after 48 hours. See :mod:`bot.infra.inbox`.
    """

    __tablename__ = "inbox"

    update_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    # Whose update it is: the order is kept per person. None for an update without a sender, and
    # once handled.
    user_id: Mapped[int | None] = mapped_column(BigInteger)
    body: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(index=True)
    handled_at: Mapped[datetime | None]

    __table_args__ = (
        Index(
            "ix_inbox_unhandled",
            "user_id",
            "update_id",
            postgresql_where=text("handled_at IS NULL"),
            sqlite_where=text("handled_at IS NULL"),
        ),
    )


class InboxClaim(Base):
    """Which instance handles a person's inbox rows now (PostgreSQL, several instances)."""

    __tablename__ = "inbox_claims"

    user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    instance: Mapped[str] = mapped_column(String(200), index=True)
    claimed_at: Mapped[datetime]


class Share(Base):
    """An observation its author chose to show the other participants (``/shared``).

    ``level`` is how it is attributed: ``org_role``, ``org`` or ``anyone`` ("a participant"); never
    a name. ``ack_*`` is the author's acknowledgement message, edited with the recognition count at
    most once an hour.
    """

    __tablename__ = "shares"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id", ondelete="CASCADE"), unique=True)
    membership_id: Mapped[int] = mapped_column(ForeignKey("memberships.id", ondelete="CASCADE"), index=True)
    process_id: Mapped[int] = mapped_column(ForeignKey("processes.id", ondelete="CASCADE"), index=True)
    level: Mapped[str] = mapped_column(String(16))
    ack_chat_id: Mapped[int | None] = mapped_column(BigInteger)
    ack_message_id: Mapped[int | None] = mapped_column(BigInteger)
    ack_count_shown: Mapped[int] = mapped_column(Integer, default=0)
    ack_edited_at: Mapped[datetime | None]
    created_at: Mapped[datetime]


class SharedCopy(Base):
    """A shared observation as sent to one viewer, so it can be edited when it is withdrawn.

    ``submission_id`` becomes NULL when the observation is erased; such a copy is edited to say so
    and then deleted.
    """

    __tablename__ = "shared_copies"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    submission_id: Mapped[int | None] = mapped_column(
        ForeignKey("submissions.id", ondelete="SET NULL"), index=True
    )
    membership_id: Mapped[int] = mapped_column(ForeignKey("memberships.id", ondelete="CASCADE"), index=True)
    chat_id: Mapped[int] = mapped_column(BigInteger)
    message_id: Mapped[int] = mapped_column(BigInteger)
    media: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime]


class Recognition(Base):
    """ "Me too" on a shared observation; only counts are ever shown."""

    __tablename__ = "recognitions"

    submission_id: Mapped[int] = mapped_column(
        ForeignKey("submissions.id", ondelete="CASCADE"), primary_key=True
    )
    membership_id: Mapped[int] = mapped_column(
        ForeignKey("memberships.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    created_at: Mapped[datetime]


class Response(Base):
    """A message relayed between two participants about a shared observation.

    ``parent_id`` is the response it answers (NULL for the first one); ``level`` is how the sender
    is attributed (``org_role``, ``org``, ``anyone`` or ``author``); ``prompt_id`` is the outbox
    item that carries it to the recipient.
    """

    __tablename__ = "responses"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    process_id: Mapped[int] = mapped_column(ForeignKey("processes.id", ondelete="CASCADE"), index=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id", ondelete="CASCADE"), index=True)
    sender_id: Mapped[int] = mapped_column(ForeignKey("memberships.id", ondelete="CASCADE"), index=True)
    recipient_id: Mapped[int] = mapped_column(ForeignKey("memberships.id", ondelete="CASCADE"), index=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("responses.id", ondelete="SET NULL"))
    text: Mapped[str] = mapped_column(Text)
    level: Mapped[str] = mapped_column(String(16))
    prompt_id: Mapped[int | None] = mapped_column(ForeignKey("prompts.id", ondelete="SET NULL"))
    created_at: Mapped[datetime]


class SharingPref(Base):
    """A participant's choices about dialogue: the attribution confirmed once, responses muted."""

    __tablename__ = "sharing_prefs"

    membership_id: Mapped[int] = mapped_column(
        ForeignKey("memberships.id", ondelete="CASCADE"), primary_key=True
    )
    level: Mapped[str | None] = mapped_column(String(16))
    confirmed_at: Mapped[datetime | None]
    muted: Mapped[bool] = mapped_column(Boolean, default=False)


class PairOptIn(Base):
    """A participant who asked to be paired (``/pair``), with the first name they agreed to show
    their pair; ``/pair off`` deletes the row. ``told_round`` is the last workshop after which they
    were told nobody could be paired (a single organisation), so it is said once."""

    __tablename__ = "pair_optins"

    membership_id: Mapped[int] = mapped_column(
        ForeignKey("memberships.id", ondelete="CASCADE"), primary_key=True
    )
    process_id: Mapped[int] = mapped_column(ForeignKey("processes.id", ondelete="CASCADE"), index=True)
    first_name: Mapped[str] = mapped_column(String(64))
    consented_at: Mapped[datetime]
    told_round: Mapped[int | None] = mapped_column(Integer)


class PairRound(Base):
    """One pairing round of a process, after workshop ``workshop``: written in the same unit of
    work as its pairs, so a restart never pairs twice. Holds a count, never who."""

    __tablename__ = "pair_rounds"

    process_id: Mapped[int] = mapped_column(ForeignKey("processes.id", ondelete="CASCADE"), primary_key=True)
    workshop: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    phase: Mapped[int] = mapped_column(Integer)
    pairs_made: Mapped[int] = mapped_column(Integer, default=0)
    ran_at: Mapped[datetime]


class Pair(Base):
    """Two (or three) participants of different organisations introduced to each other."""

    __tablename__ = "pairs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    process_id: Mapped[int] = mapped_column(ForeignKey("processes.id", ondelete="CASCADE"), index=True)
    workshop: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]


class PairMember(Base):
    __tablename__ = "pair_members"

    pair_id: Mapped[int] = mapped_column(ForeignKey("pairs.id", ondelete="CASCADE"), primary_key=True)
    membership_id: Mapped[int] = mapped_column(
        ForeignKey("memberships.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    # The first name they agreed to show, as introduced (it stays with the pair after /pair off).
    first_name: Mapped[str] = mapped_column(String(64))


class PairMessage(Base):
    """An outbox item of a pair (kind ``relay``): the introduction (``sender_id`` NULL) or a message
    relayed from one member; replying to one of them writes to the pair."""

    __tablename__ = "pair_messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    pair_id: Mapped[int] = mapped_column(ForeignKey("pairs.id", ondelete="CASCADE"), index=True)
    sender_id: Mapped[int | None] = mapped_column(
        ForeignKey("memberships.id", ondelete="CASCADE"), index=True
    )
    prompt_id: Mapped[int | None] = mapped_column(ForeignKey("prompts.id", ondelete="SET NULL"), index=True)
    created_at: Mapped[datetime]


class Notice(Base):
    """A one-off message to a person outside any membership's outbox (a facilitator just removed
    from a process), sent by the running bot's ``notices`` leader duty and deleted once sent, given up,
    or in doubt: never sent twice."""

    __tablename__ = "notices"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    language: Mapped[str] = mapped_column(String(8))
    process_name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # Handed to Telegram and not yet answered: a row still sending at the next run is in doubt (dropped).
    sending: Mapped[bool] = mapped_column(Boolean, default=False)
