"""Dialogue state: every flow round-trips through the stored JSON, the JSON earlier versions wrote
still reads, and every flow that can be opened has a step in the one registry."""

from __future__ import annotations

import pytest

from handlers import dialogue
from handlers.dialogue import Announcement, Comment, Dialogue, Form, Joining, Observing, Responding
from handlers.inbox import FLOWS, STANDALONE_FLOWS
from storage.models import User

EVERY: list[Dialogue] = [
    Form("newprocess", "organisations", {"name": "Kevät"}),
    Form("idea", "need", {"title": "Kerho"}),
    Form("experiment", "done", {"idea_id": 3, "title": "Kerho"}),
    Form("loop", "confirm", {"said": "a", "discussed": "b", "next": "c"}),
    Announcement("text"),
    Announcement("confirm", "Tervetuloa"),
    Comment(12, 34),
    Observing(),
    Joining(),
    Responding(7),
    Responding(8, {"flow": "idea", "step": "need", "data": {"title": "Kerho"}}),
]


@pytest.mark.parametrize("value", EVERY, ids=lambda value: f"{value.flow}")
def test_dialogue_round_trips_through_the_user_row(value: Dialogue) -> None:
    user = User(id=1)
    dialogue.save(user, value)
    assert dialogue.load(user) == value
    dialogue.save(user, None)
    assert user.state is None and dialogue.load(user) is None


@pytest.mark.parametrize(
    ("stored", "expected"),
    [
        ({"flow": "idea", "step": "name", "data": {}}, Form("idea", "name")),
        ({"flow": "experiment", "step": "pick", "data": {}}, Form("experiment", "pick")),
        ({"flow": "announce", "step": "text"}, Announcement("text")),
        ({"flow": "announce", "step": "confirm", "text": "Hei"}, Announcement("confirm", "Hei")),
        ({"flow": "comment", "submission": 5, "delivery": 7}, Comment(5, 7)),
        ({"flow": "comment", "submission": "5"}, Comment(5, None)),
        ({"flow": "observe"}, Observing()),
        ({"flow": "joining"}, Joining()),
        ({"flow": "something-retired"}, None),
        ({}, None),
    ],
)
def test_json_written_by_earlier_versions_still_reads(
    stored: dict[str, object], expected: Dialogue | None
) -> None:
    assert dialogue.parse(stored) == expected


def test_the_stored_shape_is_the_one_earlier_versions_wrote() -> None:
    assert Form("idea", "need", {"title": "x"}).to_json() == {
        "flow": "idea",
        "step": "need",
        "data": {"title": "x"},
    }
    assert Announcement("text").to_json() == {"flow": "announce", "step": "text"}
    assert Comment(5, 7).to_json() == {"flow": "comment", "submission": 5, "delivery": 7}
    assert Observing().to_json() == {"flow": "observe"}


def test_every_flow_that_can_be_opened_has_a_step_in_the_registry() -> None:
    opened = {value.flow for value in EVERY}
    # Joining is answered by buttons only; a message meanwhile asks to finish joining first.
    assert set(FLOWS) == opened - {"joining"}
    assert set(FLOWS) >= STANDALONE_FLOWS


def test_cancel_clears_even_an_unknown_dialogue() -> None:
    user = User(id=1, state={"flow": "something-retired"})
    assert dialogue.cancel(user) is True
    assert user.state is None
    assert dialogue.cancel(user) is False
