"""The dialogue sheets of the export: shares (with recognition and response counts, never who
recognised) and responses (authors by the export's attribution policy, like any submission).

Observations a facilitator hid leave these sheets too. Columns are stable, like the other sheets'.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from bot.domain.privacy import ExportAttribution
from storage.models import Recognition, Response, Share, Submission

__all__ = ["COLUMNS", "ORDER", "SHEETS", "builders", "queries"]

SHEETS: tuple[str, ...] = ("shares", "responses")
COLUMNS: Mapping[str, tuple[str, ...]] = {
    "shares": ("observation_ref", "shared_at", "shown_as", "recognitions", "responses"),
    "responses": (
        "ref",
        "created_at",
        "observation_ref",
        "in_reply_to",
        "text",
        "sender_shown_as",
        "author",
        "organisation",
        "role",
        "recipient",
        "recipient_organisation",
    ),
}


ORDER: Mapping[str, tuple[Any, Any]] = {
    "shares": (Share.created_at, Share.id),
    "responses": (Response.created_at, Response.id),
}
"""Each sheet's order (its ``created_at`` and ``id`` columns, which its rows carry by those names),
by which the export reads it batch after batch."""


def queries(process_id: int) -> dict[str, Any]:
    shown = (Submission.hidden.is_(False), Submission.kind == "observation")
    recognitions = (
        select(Recognition.submission_id, func.count().label("n"))
        .group_by(Recognition.submission_id)
        .subquery()
    )
    responses = (
        select(Response.submission_id, func.count().label("n")).group_by(Response.submission_id).subquery()
    )
    return {
        "shares": select(
            Share.submission_id,
            Share.created_at,
            Share.level,
            recognitions.c.n.label("recognised"),
            responses.c.n.label("answered"),
            Share.id,
        )
        .join(Submission, Submission.id == Share.submission_id)
        .outerjoin(recognitions, recognitions.c.submission_id == Share.submission_id)
        .outerjoin(responses, responses.c.submission_id == Share.submission_id)
        .where(Share.process_id == process_id, *shown)
        .order_by(*ORDER["shares"]),
        "responses": select(
            Response.id,
            Response.created_at,
            Response.submission_id,
            Response.parent_id,
            Response.text,
            Response.level,
            Response.sender_id,
            Response.recipient_id,
        )
        .join(Submission, Submission.id == Response.submission_id)
        .where(Response.process_id == process_id, *shown)
        .order_by(*ORDER["responses"]),
    }


def builders(
    people: ExportAttribution, local: Callable[[datetime | None], datetime | None]
) -> dict[str, Callable[[Any], list[object] | None]]:
    def share(row: Any) -> list[object]:
        return [
            row.submission_id,
            local(row.created_at),
            row.level,
            int(row.recognised or 0),
            int(row.answered or 0),
        ]

    def response(row: Any) -> list[object]:
        sender = people.author(row.sender_id, False)
        recipient = people.author(row.recipient_id, False)
        return [
            row.id,
            local(row.created_at),
            row.submission_id,
            row.parent_id or "",
            row.text,
            row.level,
            sender.author,
            sender.organisation,
            sender.role,
            recipient.author,
            recipient.organisation,
        ]

    return {"shares": share, "responses": response}
