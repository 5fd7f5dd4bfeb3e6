"""/newprocess: an admin (ADMIN_USER_IDS) starts a process in chat with a short guided dialogue.

The answers are turned into a process file and read by the same parser as ``valitupa process
create``, so chat and CLI accept exactly the same processes and report the same errors.
"""

from __future__ import annotations

import re
from datetime import datetime

import yaml
from sqlalchemy.ext.asyncio import AsyncSession
from telegram import InlineKeyboardMarkup, Update
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, filters

from bot.context import Ctx
from bot.domain.calendar import parse_no_send_item
from bot.domain.programme import ProcessFileError, ProcessSpec, parse_process, problem_text
from bot.render.rehearsal import budget_warning
from bot.services import people
from bot.services.processes import create_process
from handlers import dialogue
from handlers.callbacks import NewProcessChoice, NewProcessReminders
from handlers.common import client_language, keyboard, reply, who
from handlers.dialogue import Form
from handlers.flows import Input, Out, Step, settle_callback
from messages import Html

DATE_FORMATS = ("%d.%m.%Y %H:%M", "%d.%m.%Y %H.%M", "%Y-%m-%d %H:%M", "%d.%m.%Y")


def parse_local_datetime(text: str) -> datetime | None:
    """Dates the way Finns write them: ``14.1.2027 9.00``, ``14.1.2027 klo 9``, or ISO."""
    cleaned = re.sub(r"\bklo\b|\bkl\.?|\bat\b", " ", text.strip(), flags=re.IGNORECASE)
    cleaned = " ".join(cleaned.split())
    cleaned = re.sub(r"(\d{1,2})\.(\d{1,2})\.(\d{4}) (\d{1,2})$", r"\1.\2.\3 \4:00", cleaned)
    for pattern in DATE_FORMATS:
        try:
            return datetime.strptime(cleaned, pattern)  # noqa: DTZ007 - local time of the process
        except ValueError:
            continue
    return None


YES_WORDS = frozenset({"kyllä", "joo", "k", "ja", "yes", "y"})
NO_WORDS = frozenset({"ei", "e", "nej", "no", "n"})
_DAY = r"(\d{1,2})\.(\d{1,2})\.(\d{4})"
_NO_SEND_RE = re.compile(rf"\s*{_DAY}\s*(?:(?:–|—|-|\.\.)\s*{_DAY}\s*)?")


def parse_no_send_lines(text: str) -> tuple[list[str], list[str]]:
    """``22.2.2027`` and ``22.2.2027–26.2.2027`` lines as process-file ``no_send`` items, and the
    lines that are neither."""
    items: list[str] = []
    bad: list[str] = []
    for line in (part.strip() for part in re.split(r"[\n,;]", text)):
        match = _NO_SEND_RE.fullmatch(line) if line else None
        if not line:
            continue
        try:
            if match is None:
                raise ValueError(line)
            days = [f"{match[i + 2]}-{int(match[i + 1]):02d}-{int(match[i]):02d}" for i in (1, 4) if match[i]]
            items.append(str(parse_no_send_item("..".join(days))))
        except ValueError:
            bad.append(line)
    return items, bad


def process_file(
    name: str,
    organisations: list[str],
    workshops: list[str],
    language: str,
    timezone: str,
    *,
    quiet_days: bool = True,
    no_send: list[str] | None = None,
    reminders_per_week: int = 1,
) -> str:
    document: dict[str, object] = {
        "name": name,
        "language": language,
        "timezone": timezone,
        "organisations": organisations,
        "workshops": workshops,
        "skip_weekends": quiet_days,
        "holidays": "fi" if quiet_days else "off",
        "no_send": list(no_send or []),
        "reminders_per_week": reminders_per_week,
        "programme": "default",
    }
    return yaml.safe_dump(document, allow_unicode=True, sort_keys=False)


def _source(collected: dict[str, object], lang: str, timezone: str) -> str:
    return process_file(
        str(collected["name"]),
        list(collected["organisations"]),  # type: ignore[call-overload]
        list(collected["workshops"]),  # type: ignore[call-overload]
        lang,
        timezone,
        quiet_days=bool(collected.get("quiet_days", True)),
        no_send=list(collected.get("no_send") or []),  # type: ignore[call-overload]
        reminders_per_week=int(collected.get("reminders_per_week", 1)),  # type: ignore[call-overload]
    )


async def on_newprocess(update: Update, context: Ctx) -> None:
    svc = context.services
    sender_id = update.effective_user.id if update.effective_user else 0
    if sender_id not in svc.settings.admin_user_ids:
        await reply(update, svc.t(client_language(update), "admin.not_admin"))
        return

    async def work(session: AsyncSession) -> Out:
        sender = await who(session, update, now=svc.clock.now())
        if sender.user is None or not sender.consented:
            sender.user = await people.give_consent(
                session, user_id=sender_id, language=sender.client_language, now=svc.clock.now()
            )
        dialogue.save(sender.user, Form("newprocess", "name"))
        return Out(svc.t(sender.lang, "admin.ask_name"))

    out = await svc.db.run(work)
    await reply(update, out.text)


async def newprocess_flow(step: Step, data: Input) -> None:
    form = step.form("newprocess")
    current = form.step or "name"
    collected = dict(form.data)
    text = (data.text or "").strip()
    if data.skip or not text:
        step.say("admin.answer_needed")
        return
    if current == "name":
        collected["name"] = text[:200]
        step.open(form.at("organisations", collected))
        step.say("admin.ask_organisations")
        return
    if current == "organisations":
        names = [part.strip(" -•\t") for part in re.split(r"[\n,;]", text)]
        names = [name for name in names if name]
        if len(names) < 2:
            step.say("admin.need_two_organisations")
            return
        collected["organisations"] = names[:20]
        step.open(form.at("workshops", collected))
        step.say("admin.ask_workshops")
        return
    if current == "workshops":
        lines = [line for line in text.splitlines() if line.strip()]
        parsed = [parse_local_datetime(line) for line in lines]
        bad = [line for line, value in zip(lines, parsed, strict=True) if value is None]
        if len(lines) != 5 or bad:
            step.say("admin.bad_workshops", count=len(lines), bad=", ".join(bad) or "—")
            return
        collected["workshops"] = [value.strftime("%Y-%m-%d %H:%M") for value in parsed if value is not None]
        if _read(step, collected) is None:
            return
        step.open(form.at("calendar", collected))
        step.say("admin.ask_calendar")
        return
    if current == "calendar":
        word = text.lower().strip(" .!")
        if word not in YES_WORDS | NO_WORDS:
            step.say("admin.bad_yes_no")
            return
        collected["quiet_days"] = word in YES_WORDS
        step.open(form.at("no_send", collected))
        step.say("admin.ask_no_send")
        return
    if current == "no_send":
        items, bad = ([], []) if text.lower().strip(" .!") in NO_WORDS else parse_no_send_lines(text)
        if bad:
            step.say("admin.bad_no_send", bad=", ".join(bad))
            return
        collected["no_send"] = items
        step.open(form.at("reminders", collected))
        step.say("admin.ask_reminders", _reminder_buttons(step))
        return
    if current == "reminders":
        if text not in {str(choice) for choice in NewProcessReminders.CHOICES}:
            step.say("admin.bad_reminders", _reminder_buttons(step))
            return
        collected["reminders_per_week"] = int(text)
        _confirm(step, form, collected)
        return
    step.say("admin.use_buttons")


def _reminder_buttons(step: Step) -> InlineKeyboardMarkup:
    plain = step.svc.catalog.plain
    return keyboard(
        [
            [
                (plain(step.lang, f"admin.button.reminders_{choice}"), NewProcessReminders(choice).encode())
                for choice in NewProcessReminders.CHOICES
            ]
        ]
    )


async def on_reminders(update: Update, context: Ctx) -> None:
    """A reminders button of /newprocess: the choice kept, then the summary to confirm."""
    svc = context.services
    pressed = NewProcessReminders.of(update)
    sender_id = update.effective_user.id if update.effective_user else 0

    async def work(session: AsyncSession) -> tuple[str, Out | None]:
        now = svc.clock.now()
        sender = await who(session, update, now=now)
        form = dialogue.load(sender.user)
        if (
            pressed is None
            or sender.user is None
            or sender_id not in svc.settings.admin_user_ids
            or not isinstance(form, Form)
            or form.flow != "newprocess"
            or form.step != "reminders"
        ):
            return sender.lang, None
        step = Step(svc=svc, session=session, sender=sender, dialogue=form, now=now)
        _confirm(step, form, {**form.data, "reminders_per_week": pressed.per_week})
        return sender.lang, step.outs[-1] if step.outs else None

    lang, out = await svc.db.run(work)
    await settle_callback(update, svc, lang, notice=None if out else "button.stale", out=out)


def _read(step: Step, collected: dict[str, object]) -> ProcessSpec | None:
    """The answers so far as a process; its problems told (by line) and ``None`` if it has any."""
    try:
        return parse_process(_source(collected, step.lang, step.svc.settings.timezone))
    except ProcessFileError as error:
        problems = "\n".join(problem_text(step.svc.catalog, step.lang, p) for p in error.problems)
        step.say("admin.invalid", problems=Html(problems))
        return None


def _confirm(step: Step, form: Form, collected: dict[str, object]) -> None:
    """Read the answers as a process file; show its problems, or the summary to confirm (with the
    message budget's warning when the programme would be heavy)."""
    spec = _read(step, collected)
    if spec is None:
        return
    step.open(form.at("confirm", collected))
    per_week = int(collected.get("reminders_per_week", 1))  # type: ignore[call-overload]
    reminders = (
        step.svc.tn(step.lang, "admin.confirm_reminders", per_week)
        if per_week
        else step.svc.t(step.lang, "admin.confirm_no_reminders")
    )
    summary = step.svc.t(
        step.lang,
        "admin.confirm",
        name=collected["name"],
        organisations=", ".join(list(collected["organisations"])),  # type: ignore[call-overload]
        workshops="\n".join(list(collected["workshops"])),  # type: ignore[call-overload]
        reminders=Html(reminders),
    )
    warning = budget_warning(step.svc.catalog, step.lang, spec, chat=True)
    buttons = [
        [(step.svc.catalog.plain(step.lang, "admin.button.create"), NewProcessChoice(True).encode())],
        [(step.svc.catalog.plain(step.lang, "admin.button.cancel"), NewProcessChoice(False).encode())],
    ]
    step.outs.append(Out(f"{summary}\n\n{warning}" if warning else summary, keyboard(buttons)))


async def on_confirm(update: Update, context: Ctx) -> None:
    svc = context.services
    pressed = NewProcessChoice.of(update)
    confirmed = pressed is not None and pressed.confirmed
    sender_id = update.effective_user.id if update.effective_user else 0

    async def work(session: AsyncSession) -> tuple[str, Out | None]:
        sender = await who(session, update, now=svc.clock.now())
        form = dialogue.load(sender.user)
        if (
            sender.user is None
            or sender_id not in svc.settings.admin_user_ids
            or not isinstance(form, Form)
            or form.flow != "newprocess"
            or form.step != "confirm"
        ):
            return sender.lang, None
        dialogue.save(sender.user, None)
        if not confirmed:
            return sender.lang, Out(svc.t(sender.lang, "flow.cancelled"))
        source = _source(dict(form.data), sender.lang, svc.settings.timezone)
        spec = parse_process(source)
        process = await create_process(
            session, spec=spec, source_yaml=source, created_by=sender_id, now=svc.clock.now()
        )
        return sender.lang, Out(
            svc.t(
                sender.lang,
                "admin.created",
                name=process.name,
                participant_link=svc.invite_link(process.participant_code),
                facilitator_link=svc.invite_link(process.facilitator_code),
            )
        )

    lang, out = await svc.db.run(work)
    await settle_callback(update, svc, lang, notice=None if out else "button.stale", out=out)


def register(app: Application) -> None:
    app.add_handler(CommandHandler("newprocess", on_newprocess, filters=filters.ChatType.PRIVATE))
    app.add_handler(CallbackQueryHandler(on_confirm, pattern=NewProcessChoice.pattern()))
    app.add_handler(CallbackQueryHandler(on_reminders, pattern=NewProcessReminders.pattern()))
