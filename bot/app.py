"""The composition root: builds the python-telegram-bot Application and everything that runs in it.

:data:`FEATURES` lists every handler module in order; :func:`build_application` registers them,
creates the outbox dispatcher and the leader duties (:func:`leader_duties`), and ``post_init``
starts both. Nothing else installs a handler or a job.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from datetime import timedelta

from telegram import Update
from telegram.constants import ParseMode
from telegram.error import Forbidden, TelegramError
from telegram.ext import Application, ContextTypes

from bot.context import Ctx, Services, services_of
from bot.domain import words
from bot.infra.commands import publish_commands
from bot.infra.inbox import UpdateTakenOver
from bot.infra.logs import database_error_fields
from bot.infra.ratelimit import PacedRateLimiter
from bot.infra.transport import AiohttpRequest, InDoubt
from bot.infra.updates import UpdateInbox, prune_job, release_departed_queues
from bot.jobs.claims import release_departed_claims
from bot.jobs.digest_job import run_due_digests
from bot.jobs.dispatcher import TICK_INTERVAL_S, Dispatcher
from bot.jobs.duties import Duty, LeaderDuties
from bot.jobs.notices_job import send_notices
from bot.jobs.retention_job import retention_job
from bot.room.menu import publish_room_buttons
from handlers import (
    admin,
    announce,
    capture,
    checkins,
    experiments,
    facilitator,
    guard,
    ideas,
    inbox,
    join,
    merge,
    mydata,
    pair,
    process_admin,
    programme,
    reports,
    room,
    shared,
)
from messages import DEFAULT_LANGUAGE, normalise_language

log = logging.getLogger(__name__)

Feature = Callable[[Application], None]


# Every handler module, in the order PTB tries them. Order matters in three places: the guard
# (groups -2/-1) runs before everything else; feature modules (programme's YAML upload above
# all) come before inbox, whose catch-all for messages and documents would otherwise file a
# facilitator's programme as an observation; the fallbacks for unknown commands and stale buttons
# come last.
FEATURES: tuple[Feature, ...] = (
    guard.register,
    join.register,
    ideas.register,
    experiments.register,
    mydata.register,
    admin.register,
    facilitator.register,
    process_admin.register,
    programme.register,
    announce.register,
    checkins.register,
    reports.register,
    merge.register,
    room.register,
    shared.register,
    pair.register,
    capture.register,
    inbox.register,
    mydata.register_fallbacks,
    guard.register_fallbacks,
)


def leader_duties(services: Services) -> LeaderDuties:
    """What only the leader does, each on its own JobQueue job (intervals in seconds)."""
    return LeaderDuties(
        services,
        [
            Duty("departed-claims", release_departed_claims, every=TICK_INTERVAL_S),
            Duty("weekly-digests", run_due_digests, every=30.0, at_start=True),
            Duty("retention", retention_job, every=60.0),
            Duty("departed-inbox-claims", release_departed_queues, every=TICK_INTERVAL_S),
            Duty("prune-update-ids", prune_job, every=60.0),
            Duty("room-menu-buttons", publish_room_buttons, every=86400.0, at_start=True),
            Duty("shared-upkeep", shared.upkeep, every=10.0),
            Duty("pair-rounds", pair.rounds, every=60.0),
            Duty("notices", send_notices, every=10.0, at_start=True),
        ],
    )


def build_application(services: Services) -> Application:
    """The Application with every feature registered, the durable inbox that feeds it updates
    (webhook or :class:`bot.infra.updates.Poller`: PTB's own updater and update queue are not used),
    the outbox dispatcher and the leader duties."""
    # Opt in to python-telegram-bot's timedelta durations (RetryAfter.retry_after and friends), so PTB
    # does not warn about the coming change on every 429; bot.infra.ratelimit reads both forms.
    os.environ.setdefault("PTB_TIMEDELTA", "true")
    settings = services.settings
    api = settings.telegram_api_url
    services.transports = (AiohttpRequest(128), AiohttpRequest(1))
    builder = (
        Application.builder()
        .token(settings.require_token())
        .base_url(f"{api}/bot")
        .base_file_url(f"{api}/file/bot")
        .context_types(ContextTypes(context=Ctx))
        .rate_limiter(PacedRateLimiter(bulk_per_second=settings.broadcast_rate, metrics=services.metrics))
        .request(services.transports[0])
        .get_updates_request(services.transports[1])
        .post_init(_post_init)
        .post_shutdown(_post_shutdown)
        .updater(None)
    )
    application = builder.build()
    application.bot_data["services"] = services
    for register in FEATURES:
        register(application)
    application.add_error_handler(on_error)
    services.updates = UpdateInbox(application, concurrency=64)
    services.dispatcher = Dispatcher(application)
    services.duties = leader_duties(services)
    return application


async def _post_init(application: Application) -> None:
    # The lemmatiser's dictionaries take seconds to load: load them now in a worker thread, so the
    # first digest or idea of this process does not wait for them (bot.domain.words.preload).
    asyncio.get_running_loop().run_in_executor(None, words.preload)
    services = services_of(application.bot_data)
    # The bot user getMe answered in initialize(): asking again would only be a second way to fail.
    services.bot_username = application.bot.username or ""
    try:
        await publish_commands(application.bot, services.catalog)
    except TelegramError as error:
        log.warning("could not publish the command menu: %s", type(error).__name__)
    assert services.dispatcher is not None
    assert services.duties is not None
    await services.dispatcher.start(application)
    job_queue = application.job_queue
    if job_queue is None:
        log.error("no JobQueue (install python-telegram-bot[job-queue]); leader duties will not run")
    else:
        services.duties.schedule(job_queue)
    await services.duties.start(application)
    assert services.updates is not None
    await services.updates.start()


async def _post_shutdown(application: Application) -> None:
    services = services_of(application.bot_data)
    if services.updates is not None:
        await services.updates.stop()
    if services.dispatcher is not None:
        await services.dispatcher.stop(application)


# When each kind of error was last reported to the operator chat is kept per running bot
# (``Services.error_reports``), so two Applications in one process, as in tests, never silence each other.
REPORT_INTERVAL = timedelta(hours=1)


async def on_error(update: object, context: Ctx) -> None:
    """Log with context (never message contents), apologise to the user, tell the operator once an hour.

    Copes with any exception (and with none). A Telegram or network error is one log line (it is not
    a bug of ours); anything else is logged with its traceback. No apology follows an error raised
    after a request was written (:class:`~bot.infra.transport.InDoubt`): the reply may have arrived,
    and "please try again" would have the person send the same thing twice. The apology says the
    operators have been told only when there is an operator chat (``OPERATOR_CHAT_ID``). The operator
    chat hears of each kind of error (its exception class) at most once an hour per instance, so a
    failing database does not flood it; the logs and ``valitupa_handler_errors_total`` count every
    occurrence.
    """
    error = context.error
    if isinstance(error, UpdateTakenOver):
        # Another instance handled this update meanwhile; its effects were rolled back here.
        log.info("update %s was handled by another instance; nothing done twice", error)
        return
    services = context.services
    kind = type(error).__name__ if error is not None else "UnknownError"
    services.metrics.handler_errors.labels(kind=kind).inc()
    update_id = update.update_id if isinstance(update, Update) else None
    if isinstance(error, TelegramError):
        log.error("Telegram call failed in update %s: %s", update_id, kind, extra={"update_id": update_id})
    else:
        log.error(
            "unhandled %s in update %s",
            kind,
            update_id,
            exc_info=error,
            extra={"update_id": update_id, **database_error_fields(error)},
        )
    if (
        isinstance(update, Update)
        and update.effective_chat is not None
        and update.effective_chat.type == "private"
        and not isinstance(error, Forbidden | InDoubt)  # in doubt: the reply may well have arrived
    ):
        await _apologise(update, context, update_id)
    await _tell_operator(context, kind, update_id)


async def _user_language(update: Update, services: Services) -> str:
    """The language the person chose, or their client's when the database cannot say (it may be the
    very thing that failed)."""
    user = update.effective_user
    lang = normalise_language(user.language_code if user else None)
    if user is None:
        return lang
    from storage.models import User

    try:
        async with asyncio.timeout(2.0):
            stored = await services.db.run(lambda session: session.get(User, user.id), attempts=1)
    except Exception:
        stored = None
    return normalise_language(stored.language) if stored is not None and stored.language else lang


async def _apologise(update: Update, context: Ctx, update_id: int | None) -> None:
    services = context.services
    lang = await _user_language(update, services)
    told = services.settings.operator_chat_id is not None
    try:
        if update.callback_query is not None:
            await update.callback_query.answer(services.catalog.plain(lang, "error.apology_short"))
        elif update.effective_chat is not None:
            await context.bot.send_message(
                update.effective_chat.id,
                services.t(lang, "error.apology" if told else "error.apology_short"),
                parse_mode=ParseMode.HTML,
            )
    except Exception as error:
        log.warning("could not send the apology for update %s (%s)", update_id, type(error).__name__)


async def _tell_operator(context: Ctx, kind: str, update_id: int | None) -> None:
    services = context.services
    operator = services.settings.operator_chat_id
    if operator is None:
        return
    now = services.clock.now()
    reported = services.error_reports
    last = reported.get(kind)
    if last is not None and now - last < REPORT_INTERVAL:
        return
    reported[kind] = now
    try:
        await context.bot.send_message(
            operator,
            services.t(
                DEFAULT_LANGUAGE,
                "ops.error_report",
                instance=services.instance,
                kind=kind,
                update_id=update_id if update_id is not None else "-",
            ),
            parse_mode=ParseMode.HTML,
        )
    except Exception as error:
        log.warning("could not notify the operator chat (%s)", type(error).__name__)
