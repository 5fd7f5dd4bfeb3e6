"""Rendering a digest built from plain rows: Telegram messages and the HTML document."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.domain.digest_model import DigestFacts, IdeaFacts, IdeaRow, SubmissionRow, WorkshopInfo
from bot.domain.digest_sections import Audience, TextSections, assemble
from bot.domain.privacy import Member
from bot.render.digest_html import html_document
from bot.render.digest_telegram import TELEGRAM_LIMIT, split_messages, telegram_messages, visible_length
from messages import default_catalog

START = datetime(2027, 1, 11, 6, 0, tzinfo=UTC)
END = START + timedelta(days=7)
SCRIPT = "<script>alert('x')</script> Kahvi & pulla"


def digest(observations: int = 3):
    members = [
        Member(
            n, "Kunta & kylä", "employee", "Aino <b>" if n == 1 else None, f"P-{n}", False, True, "fi", START
        )
        for n in range(1, 5)
    ]
    facts = DigestFacts(
        process_id=1,
        process_name="Testi <i>",
        timezone="Europe/Helsinki",
        start=START,
        end=END,
        now=END,
        process_end=END + timedelta(days=90),
        min_group=3,
        organisations=("Kunta & kylä",),
        roles=("management", "employee", "elected", "other"),
        workshops=[WorkshopInfo(1, START, "Kirjasto & kahvila")],
        prompts={},
        members=members,
        contributions={1: observations},
        supports_given={},
        sent=[],
        ideas=IdeaFacts(1, 1, 0, [IdeaRow(9, 2, SCRIPT, "Tarve", None, None, False, START, 0, 0)]),
        hours=[],
    )
    audience = Audience.of(facts)
    texts = TextSections(facts, audience)
    texts.add(
        SubmissionRow(
            n,
            1,
            "observation",
            f"{SCRIPT} {n} " + "sana " * 60,
            None,
            "pain",
            False,
            END - timedelta(minutes=n),
            None,
            None,
            None,
            None,
            None,
            None,
        )
        for n in range(1, observations + 1)
    )
    return assemble(facts, audience, texts)


def test_visible_length_counts_text_after_entity_parsing_in_utf16_units() -> None:
    assert visible_length("<b>Kahvi &amp; pulla</b>") == len("Kahvi & pulla")
    assert visible_length("🎯 ok") == 5


def test_blocks_are_packed_into_messages_under_the_limit_and_long_ones_split_by_line() -> None:
    long_block = "\n".join(f"rivi {n} " + "x" * 90 for n in range(100))
    messages = split_messages(["alku", long_block, "loppu"], limit=1000)

    assert all(visible_length(message) <= 1000 for message in messages)
    assert messages[0].startswith("alku\n\nrivi 0")
    assert messages[-1].endswith("loppu")


def test_telegram_summary_escapes_user_text_and_stays_under_the_limit() -> None:
    messages = telegram_messages(digest(observations=40), default_catalog(), "fi", weekly=True)

    joined = "\n".join(messages)
    assert "<script>" not in joined and "&lt;script&gt;" in joined
    assert "Testi &lt;i&gt;" in messages[0]
    assert all(visible_length(message) <= TELEGRAM_LIMIT for message in messages)


def test_html_document_autoescapes_every_value_and_embeds_the_chart() -> None:
    document = html_document(digest(), default_catalog(), "en", chart_png=b"PNG")

    assert document.startswith("<!DOCTYPE html>")
    assert "<script>" not in document
    assert "<title>Digest – Testi &lt;i&gt;</title>" in document
    assert "Kunta &amp; kylä" in document
    assert "Aino &lt;b&gt;" in document
    assert 'src="data:image/png;base64,UE5H"' in document
    assert "size: A4" in document
