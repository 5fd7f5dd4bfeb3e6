"""``/mydata``: everything stored about one person, as they would want to read it.

Every table that holds a person (a reference to their Telegram id or to one of their memberships) is
either listed here, in :data:`LISTED`, with the place in the JSON where its rows appear, or in
:data:`NOT_LISTED` with the reason it is not; ``tests/integration/services/test_own_data.py``
compares both with the schema, so a new table cannot be forgotten.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.services import dialogue_data, pairs
from bot.services.people import memberships_of
from storage.models import Delivery, Membership, Notice, Process, Prompt, Submission, Support, User

LISTED: Mapping[str, str] = {
    "users": "telegram_user_id",
    "memberships": "processes[]",
    "submissions": "processes[].submissions[]",
    "supports": "processes[].supports[]",
    "deliveries": "processes[].deliveries[]",
    "processes": "processes_created[]",
    "shares": "processes[].shared[]",
    "shared_copies": "processes[].shared_with_you[]",
    "recognitions": "processes[].recognised[]",
    "responses": "processes[].responses[]",
    "sharing_prefs": "processes[].sharing",
    "pair_optins": "processes[].pairs.opt_in",
    "pair_members": "processes[].pairs.pairs[]",
    "pair_messages": "processes[].pairs.messages_sent[]",
    "notices": "notices_waiting[]",
}
"""Table → where its rows of the person are in the /mydata JSON (``[]``: one item per row)."""

NOT_LISTED: Mapping[str, str] = {
    "inbox": "a person's updates only while they wait to be handled: the ones after /mydata itself, "
    "which are handled next; a handled row keeps neither the text nor the Telegram id",
    "inbox_claims": "which instance handles a person's waiting updates right now; gone once they are handled",
}
"""Table → why rows that reference the person are not in /mydata."""


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


async def export_own_data(session: AsyncSession, *, user_id: int) -> dict[str, Any]:
    """Everything stored about one user, for ``/mydata``."""
    user = await session.get(User, user_id)
    if user is None:
        return {"telegram_user_id": user_id, "stored": False}
    memberships = await memberships_of(session, user_id)
    active = next((m for m in memberships if m.id == user.active_membership_id), None)
    out: dict[str, Any] = {
        "telegram_user_id": user.id,
        "consent": user.consent,
        "consent_at": _iso(user.consent_at),
        "language": user.language,
        "created_at": _iso(user.created_at),
        "active_process": active.process.name if active is not None else None,
        # An unfinished dialogue (a draft idea, an experiment log half written…), as stored.
        "unfinished_dialogue": user.state or None,
        "processes": [await _membership_json(session, membership) for membership in memberships],
        "processes_created": [
            {"process": process.name, "created_at": _iso(process.created_at)}
            for process in await session.scalars(
                select(Process).where(Process.created_by == user_id).order_by(Process.id)
            )
        ],
        # A message to you the bot is about to send (e.g. that you are no longer a facilitator).
        "notices_waiting": [
            {"kind": notice.kind, "process": notice.process_name, "created_at": _iso(notice.created_at)}
            for notice in await session.scalars(
                select(Notice).where(Notice.user_id == user_id).order_by(Notice.id)
            )
        ],
    }
    return out


async def _membership_json(session: AsyncSession, membership: Membership) -> dict[str, Any]:
    submissions = await session.scalars(
        select(Submission).where(Submission.membership_id == membership.id).order_by(Submission.created_at)
    )
    supported = await session.execute(
        select(Submission.id, Submission.title, Support.created_at)
        .join(Support, Support.idea_id == Submission.id)
        .where(Support.membership_id == membership.id)
        .order_by(Support.created_at)
    )
    prompt_keys = {
        prompt.id: prompt.key
        for prompt in await session.scalars(select(Prompt).where(Prompt.process_id == membership.process_id))
    }
    deliveries = await session.execute(
        select(Delivery, Prompt.key, Prompt.kind)
        .join(Prompt, Prompt.id == Delivery.prompt_id)
        .where(Delivery.membership_id == membership.id)
        .order_by(Delivery.due_at, Delivery.id)
    )
    return {
        "process": membership.process.name,
        "facilitator": membership.is_facilitator,
        "organisation": membership.organisation.name if membership.organisation else None,
        "role": membership.role,
        "pseudonym": membership.pseudonym,
        "show_name": membership.show_name,
        "display_name": membership.display_name,
        "paused": membership.paused,
        "unreachable": membership.unreachable,
        "joined_at": _iso(membership.joined_at),
        "supports": [
            {"idea_id": idea_id, "idea": title, "supported_at": _iso(at)} for idea_id, title, at in supported
        ],
        "submissions": [_submission_json(item, prompt_keys) for item in submissions],
        "deliveries": [_delivery_json(delivery, key, kind) for delivery, key, kind in deliveries],
        **await dialogue_data.own_dialogue(session, membership.id),
        "pairs": await pairs.own_pairs(session, membership.id),
    }


def _delivery_json(delivery: Delivery, prompt: str, kind: str) -> dict[str, Any]:
    """What was sent to the person, answered and reminded, and when."""
    data: dict[str, Any] = {
        "prompt": prompt,
        "kind": kind,
        "state": delivery.state,
        "planned_for": _iso(delivery.due_at),
        "sent_at": _iso(delivery.sent_at),
        "reminded_at": _iso(delivery.reminded_at),
    }
    return {key: value for key, value in data.items() if value is not None}


def _submission_json(item: Submission, prompt_keys: dict[int, str]) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": item.id,
        "kind": item.kind,
        "created_at": _iso(item.created_at),
        "updated_at": _iso(item.updated_at),
        "text": item.text,
        "media_type": item.media_type,
        "telegram_file_id": item.file_id,
        "theme": item.theme,
        "anonymous": item.anonymous,
        "hidden_by_facilitator": item.hidden,
    }
    optional = {
        "prompt": prompt_keys.get(item.prompt_id) if item.prompt_id else None,
        "choice": item.choice,
        "title": item.title,
        "need": item.need,
        "partners": item.partners,
        "first_experiment": item.first_experiment,
        "happened": item.happened,
        "learned": item.learned,
        "obstacles": item.obstacles,
        "idea_id": item.idea_id,
    }
    data.update({key: value for key, value in optional.items() if value is not None})
    return data
