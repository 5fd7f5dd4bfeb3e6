"""Callback data: every kind of button encodes within Telegram's 64 bytes, decodes back to itself,
and reads the wire format of buttons already sent in chats."""

from __future__ import annotations

import re

import pytest

from bot.domain.bounds import MAX_ID
from bot.render.prompt import quick_reply_buttons
from handlers.callbacks import (
    KINDS,
    MAX_BYTES,
    ActiveProcess,
    AnnounceChoice,
    AnswerChoice,
    Callback,
    Consent,
    ContinueMine,
    DigestExport,
    ExperimentPick,
    ForgetChoice,
    HideChoice,
    HighlightSupport,
    IdeasPage,
    LanguagePick,
    LoopChoice,
    NewProcessChoice,
    NewProcessReminders,
    NudgePick,
    ObservationAction,
    OrganisationPick,
    ProcessAdmin,
    ProgrammeDownload,
    QuickReply,
    Recognise,
    Respond,
    RolePick,
    SchedulePage,
    SharedPage,
    ShareToggle,
    ShowName,
    SupportIdea,
)

BIG = MAX_ID
"""The largest id an Integer column holds (a larger one is refused as stale): the worst case for length."""

LARGEST: list[Callback] = [
    ProcessAdmin("rot"),
    ProcessAdmin("rot_yes"),
    ProcessAdmin("rm"),
    ProcessAdmin("no"),
    ProcessAdmin("rm_one", 2**53),
    AnnounceChoice(True),
    AnnounceChoice(False),
    LoopChoice(True),
    ForgetChoice(False),
    NewProcessChoice(True),
    NewProcessReminders(2),
    ShowName(False),
    QuickReply(BIG, 99),
    ProgrammeDownload(),
    NudgePick(BIG),
    SchedulePage(BIG),
    IdeasPage(BIG),
    SupportIdea(BIG, BIG),
    SupportIdea(BIG, None),
    ContinueMine(),
    ExperimentPick(BIG),
    DigestExport(BIG),
    HideChoice("u", BIG),
    Consent(True, "x" * 32),
    LanguagePick("fi"),
    OrganisationPick(BIG),
    RolePick("management"),
    ActiveProcess(BIG),
    ObservationAction(BIG, "th", "question"),
    ObservationAction(BIG, "anon"),
    AnswerChoice(BIG, BIG),
    ShareToggle(BIG, "l", "org_role"),
    ShareToggle(BIG, "t"),
    ShareToggle(BIG, "n"),
    SharedPage(BIG, "question"),
    SharedPage(BIG, None),
    Recognise(BIG),
    Respond(BIG),
    HighlightSupport(BIG),
]


def test_every_kind_is_covered_and_prefixes_are_unique() -> None:
    assert {type(value) for value in LARGEST} == set(KINDS)
    prefixes = [kind.PREFIX for kind in KINDS]
    assert len(prefixes) == len(set(prefixes))


@pytest.mark.parametrize("value", LARGEST, ids=lambda value: type(value).__name__)
def test_encoded_value_fits_telegram_and_decodes_to_itself(value: Callback) -> None:
    data = value.encode()
    assert len(data.encode("utf-8")) <= MAX_BYTES
    assert re.match(type(value).pattern(), data)
    assert type(value).decode(data) == value
    for other in KINDS:
        if other is not type(value):
            assert not re.match(other.pattern(), data)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ("an:send", AnnounceChoice(True)),
        ("an:whatever", AnnounceChoice(False)),
        ("np:yes", NewProcessChoice(True)),
        ("np:yes:extra", NewProcessChoice(False)),
        ("nr:0", NewProcessReminders(0)),
        ("nr:3", None),
        ("nr:x", None),
        ("sc:abc", SchedulePage(0)),
        ("ip:x", IdeasPage(0)),
        ("su:7:s", SupportIdea(7, None)),
        ("su:7:x", SupportIdea(7, 0)),
        ("su:x:1", None),
        ("nu:x", None),
        ("qr:1:x", None),
        ("dg:x:12", DigestExport(12)),
        ("dg:y:1", None),
        ("hd:z:1", None),
        ("cs:n", Consent(False, "")),
        ("lg:xx", None),
        ("rl:boss", None),
        ("ob:5:th:nonsense", ObservationAction(5, "th", None)),
        ("ob:5", None),
        ("aw:5:0", AnswerChoice(5, 0)),
        ("aw:5", None),
        ("id:go", ContinueMine()),
    ],
)
def test_old_and_malformed_wire_data_decodes_as_before(data: str, expected: Callback | None) -> None:
    kind = next(kind for kind in KINDS if data.startswith(kind.PREFIX + ":"))
    assert kind.decode(data) == expected


def test_quick_reply_buttons_built_by_the_renderer_decode() -> None:
    rows = quick_reply_buttons([{"fi": "Hyvin"}, {"fi": "Huonosti"}], "fi", 42)
    assert [QuickReply.decode(data) for row in rows for _, data in row] == [
        QuickReply(42, 0),
        QuickReply(42, 1),
    ]
