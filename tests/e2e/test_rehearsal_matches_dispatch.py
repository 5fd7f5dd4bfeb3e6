"""The rehearsal is what the bot does: a whole process with Thursday workshops across Easter,
vappu and helatorstai, run by the real dispatcher, digest job and pair-rounds duty against the Bot
API sandbox under a fake clock, sends the same messages at the same minutes as ``valitupa rehearse``
predicts, pair introductions (and the highlights they replace) included."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from bot.domain.pairing import round_times
from bot.domain.programme import parse_process
from bot.domain.rehearsal import Persona, rehearse, spec_policy, start_of
from bot.domain.timing import weekly_digest_times
from bot.jobs.digest_job import run_due_digests
from storage.models import Delivery, Membership, Pair, PairMessage, Prompt
from tests.support.config import make_settings
from tests.support.factories import THURSDAYS, process_yaml
from tests.support.programme import Person, dispatcher, next_event, seed, start_harness

SILENT, ANSWERER, OTHER, PAIRED, FACILITATOR = 7001, 7002, 7003, 7004, 7100
PEOPLE = [
    Person(SILENT, "Hilja", organisation=0, role="management"),
    Person(ANSWERER, "Vilja", organisation=1, role="employee"),
    Person(OTHER, "Olli", organisation=2, role="elected"),
    Person(PAIRED, "Paula", organisation=2, role="employee"),
]
QUIET = {SILENT, PAIRED}
"""Never answer."""
PERSONAS = {
    SILENT: Persona("silent", "Ilomantsin kunta", "management", answers=False),
    ANSWERER: Persona("answers", "Ilomantsin seurakunta", "employee", pairs=True),
    OTHER: Persona("other", "Kyläyhdistys", "elected"),
    PAIRED: Persona("paired", "Kyläyhdistys", "employee", answers=False, pairs=True),
    FACILITATOR: Persona("facilitator", None, None, facilitator=True),
}


async def outbox_messages(bot: Any) -> dict[tuple[int, int], tuple[str, str]]:
    """(chat, message id) → (kind, prompt id) of every prompt, reminder and pair introduction the
    outbox recorded (an introduction as ``pair``, ``pair-w<N>``, as the rehearsal names it)."""
    async with bot.db.session() as session:
        rounds = dict(
            (
                await session.execute(
                    select(PairMessage.prompt_id, Pair.workshop).join(Pair, Pair.id == PairMessage.pair_id)
                )
            ).all()
        )
        rows = await session.execute(
            select(
                Membership.user_id,
                Delivery.message_id,
                Delivery.reminder_message_id,
                Prompt.id,
                Prompt.key,
                Prompt.kind,
            )
            .join_from(Delivery, Membership, Membership.id == Delivery.membership_id)
            .join(Prompt, Prompt.id == Delivery.prompt_id)
        )
        found: dict[tuple[int, int], tuple[str, str]] = {}
        for user_id, message_id, reminder_id, prompt_id, key, kind in rows.all():
            if message_id is not None and prompt_id in rounds:
                found[(user_id, message_id)] = ("pair", f"pair-w{rounds[prompt_id]}")
            elif message_id is not None:
                # Highlights are a message of their own in the rehearsal (OWN_MESSAGE_KINDS).
                found[(user_id, message_id)] = ("highlights" if kind == "highlights" else "prompt", key)
            if reminder_id is not None:
                found[(user_id, reminder_id)] = ("reminder", key)
        return found


async def test_the_dispatcher_sends_what_the_rehearsal_predicts_to_the_minute(sandbox, db, clock) -> None:
    text = process_yaml(workshops=THURSDAYS, calendar="")
    spec = parse_process(text)
    start = start_of(spec)
    clock.set(start)
    bot = await start_harness(sandbox, db, clock, make_settings(sandbox, broadcast_rate=1000.0))
    try:
        process = await bot.create_process(text)
        await seed(bot, process, PEOPLE)
        for user_id in (ANSWERER, PAIRED):  # /pair, as a participant opts in
            await bot.command(sandbox.user(user_id), "/pair")
            await bot.press(sandbox.user(user_id), "pq:y")
        # The facilitator joins through the invite link, as in real life (and is planned then).
        await bot.join(sandbox.user(FACILITATOR, first_name="Fanni"), process, facilitator=True)
        seen_messages = len(sandbox.calls("sendMessage"))
        digests = weekly_digest_times(start, spec.end_at, spec.digest, ZoneInfo(spec.timezone))
        # The pair-rounds duty runs every minute in production; the test wakes it where a round
        # becomes due (and at every other event), and the duty decides.
        workshops = [(w.number, w.at_utc) for w in spec.workshops]
        wakes = digests + [r.due for r in round_times(workshops, spec.end_at, spec_policy(spec))]
        assert bot.services.duties is not None
        duties = bot.services.duties
        pair_duty = next(duty for duty in duties.duties if duty.name == "pair-rounds")
        observed: list[tuple[datetime, int, str, str | None]] = []
        seen_documents = 0
        answered: set[int] = set()
        horizon = max(digests[-1], spec.end_at) + timedelta(days=1)
        while True:
            upcoming = sorted(t for t in wakes if t > clock.now())
            event = await next_event(bot)
            candidates = [t for t in (event, upcoming[0] if upcoming else None) if t is not None]
            if not candidates or min(candidates) > horizon:
                break
            clock.set(min(candidates))
            await duties.run(pair_duty, bot.app.bot)
            await dispatcher(bot).tick()
            await run_due_digests(bot.services, bot.app.bot, clock.now())
            await bot.idle()
            now = clock.now()
            messages = sandbox.calls("sendMessage")
            new, seen_messages = messages[seen_messages:], len(messages)
            by_id = await outbox_messages(bot)
            for call in new:
                if call.status != 200:
                    continue
                chat = int(call.params["chat_id"])
                message_id = call.response["result"]["message_id"]
                kind, key = by_id.get((chat, message_id), ("unexplained", None))
                if chat == FACILITATOR:
                    kind = "loop_nudge" if kind == "prompt" else kind
                if kind == "unexplained" and chat not in QUIET:
                    continue  # an answer's acknowledgement, not the bot's own initiative
                observed.append((now, chat, kind, key))
                if kind == "prompt" and chat not in QUIET and message_id not in answered:
                    answered.add(message_id)
                    await sandbox.user(chat).send_text("Vastaukseni.", reply_to_message_id=message_id)
                    await bot.idle()
            await bot.idle()
            documents = [c for c in sandbox.calls("sendDocument") if c.status == 200]
            for call in documents[seen_documents:]:
                if int(call.params["chat_id"]) == FACILITATOR:
                    observed.append((now, FACILITATOR, "digest", None))
            seen_documents = len(documents)
    finally:
        await bot.stop()

    user_of = {persona: user_id for user_id, persona in PERSONAS.items()}
    expected = sorted(
        (entry.at, user_of[entry.persona], entry.kind, entry.prompt_id)
        for entry in rehearse(spec, list(PERSONAS.values()))
    )
    minute = [(at.replace(second=0, microsecond=0), chat, kind, key) for at, chat, kind, key in observed]
    assert sorted(minute) == expected
    assert any(kind == "reminder" for _, _, kind, _ in minute)
    assert [key for _, chat, kind, key in minute if kind == "pair" and chat == PAIRED] == [
        f"pair-w{n}" for n in range(1, 6)
    ]
    assert not [kind for _, chat, kind, _ in minute if kind == "highlights" and chat == PAIRED]
    assert any(kind == "digest" for _, _, kind, _ in minute)
    assert [key for _, _, kind, key in minute if kind == "loop_nudge"] == [f"loop-w{n}" for n in range(1, 6)]
