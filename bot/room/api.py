"""The facilitator's room on the bot's own web server: the page at ``/app/`` and its JSON API under
``/app/api/``.

Every API request but the page's own words (``/app/api/texts/<lang>``, which say nothing of any
process) must carry ``Authorization: tma <initData>``: refused with 401 when it is missing, forged or
older than ``ROOM_AUTH_MAX_AGE``, with 403 when the Telegram user facilitates no process, or not the
one asked for. A refusal carries nothing but a word saying which it is. The server keeps no access
log and nothing here logs a header.

Exports are not downloaded in the WebView (Telegram's WebViews handle downloads poorly): the export
button makes the bot send the files to the facilitator's chat, in the background.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession
from telegram.ext import Application

from bot.context import Services, services_of
from bot.domain.programme import ProcessFileError
from bot.domain.programme.edit import EditProblems, PromptEdit
from bot.jobs.digest_job import render_bundle
from bot.jobs.export_job import start_export
from bot.room import views
from bot.room.auth import RoomUser, authenticate
from bot.room.telling import tell_merged_author
from bot.services import digest as digests
from bot.services import moderation
from bot.services import room_views as room
from bot.services.merge import Merged, MergeProblem, merge_ideas
from bot.services.processes import get_process
from messages import LANGUAGES, normalise_language
from storage.models import Process

log = logging.getLogger(__name__)

STATIC = Path(__file__).with_name("static")
STATIC_FILES = {
    "": ("index.html", "text/html"),
    "room.js": ("room.js", "text/javascript"),
    "room.css": ("room.css", "text/css"),
}
# The page loads only itself and Telegram's script; the digest (inline CSS, a data: chart) is shown in
# a sandboxed frame without scripts.
CSP = (
    "default-src 'self'; script-src 'self' https://telegram.org; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; frame-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors https://web.telegram.org https://*.telegram.org 'self'"
)
MAX_DIGEST_DAYS = 366


def _refusal(status: int) -> web.Response:
    word = "unauthorised" if status == 401 else "forbidden"
    return web.json_response({"error": word}, status=status, headers={"Cache-Control": "no-store"})


def _json(body: Any, status: int = 200) -> web.Response:
    return web.json_response(body, status=status, headers={"Cache-Control": "no-store"})


@dataclass
class Entered:
    """An authorised request: the user, their language, the process (for process routes) and what
    the request asked; ``after`` runs once the unit of work is committed (messages to send)."""

    user: RoomUser
    lang: str
    access: room.RoomAccess
    process: Process | None
    match: Mapping[str, str]
    query: Mapping[str, str]
    body: Mapping[str, Any]
    after: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    @property
    def tz(self) -> ZoneInfo:
        assert self.process is not None
        return ZoneInfo(self.process.timezone)


Later = Callable[[], Awaitable[web.Response]]
"""A response made once the request's unit of work is over, in units of its own (the digest)."""
Work = Callable[[AsyncSession, "Entered"], Awaitable[web.Response | Later]]


async def _body(request: web.Request) -> Mapping[str, Any] | None:
    if request.method != "POST":
        return {}
    try:
        data = await request.json()
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _process_id(request: web.Request) -> int | None:
    raw = request.match_info.get("pid", "")
    return int(raw) if raw.isdigit() and len(raw) < 12 else None


class Room:
    """The room's routes on one Application's web server."""

    def __init__(self, application: Application) -> None:
        self.application = application
        self.services: Services = services_of(application.bot_data)
        self._files = {name: (STATIC / file).read_bytes() for name, (file, _) in STATIC_FILES.items()}
        self._background: set[asyncio.Task[None]] = set()

    def add_routes(self, app: web.Application) -> None:
        router = app.router
        router.add_get("/app", self.redirect)
        for name in STATIC_FILES:
            router.add_get(f"/app/{name}", self.static)
        router.add_get("/app/api/texts/{lang}", self.texts)
        router.add_get("/app/api/me", self.guard(self.me, process=False))
        router.add_get("/app/api/p/{pid}/overview", self.guard(self.overview))
        router.add_get("/app/api/p/{pid}/items", self.guard(self.items))
        router.add_post("/app/api/p/{pid}/items/{ref}/hidden", self.guard(self.set_hidden))
        router.add_get("/app/api/p/{pid}/ideas", self.guard(self.ideas))
        router.add_post("/app/api/p/{pid}/merge", self.guard(self.merge))
        router.add_get("/app/api/p/{pid}/programme", self.guard(self.programme))
        router.add_post("/app/api/p/{pid}/programme/{key}", self.guard(self.save_prompt))
        router.add_get("/app/api/p/{pid}/digest", self.guard(self.digest))
        router.add_post("/app/api/p/{pid}/export", self.guard(self.export))

    async def redirect(self, request: web.Request) -> web.Response:
        # Relative, so a proxy's path prefix (PUBLIC_URL=https://host/prefix) is kept.
        raise web.HTTPFound("app/")

    async def static(self, request: web.Request) -> web.Response:
        name = request.path.removeprefix("/app/")
        _, content_type = STATIC_FILES[name]
        return web.Response(
            body=self._files[name],
            content_type=content_type,
            charset="utf-8",
            headers={
                "Content-Security-Policy": CSP,
                "Cache-Control": "no-cache",
                "Referrer-Policy": "no-referrer",
            },
        )

    async def texts(self, request: web.Request) -> web.Response:
        lang = request.match_info["lang"]
        if lang not in LANGUAGES:
            lang = normalise_language(lang)
        return _json({"lang": lang, "texts": views.texts_json(self.services.catalog, lang)})

    def guard(self, work: Work, *, process: bool = True) -> Callable[[web.Request], Awaitable[web.Response]]:
        """Authenticate the initData, then authorise against facilitator memberships, then ``work`` in
        one unit of work; what it leaves in ``after`` runs once that is committed. A ``work`` that
        answers with a :data:`Later` has its response made after the unit, outside it."""

        async def handler(request: web.Request) -> web.Response:
            svc = self.services
            now = svc.clock.now()
            user = authenticate(
                request.headers.get("Authorization"),
                bot_token=svc.settings.require_token(),
                max_age=svc.settings.room_auth_max_age,
                now=now,
            )
            if user is None:
                return _refusal(401)
            wanted = _process_id(request) if process else None
            body = await _body(request)
            if (process and wanted is None) or body is None:
                return _refusal(403) if body is not None else _json({"error": "bad_request"}, 400)

            async def unit(
                session: AsyncSession,
            ) -> tuple[web.Response | Later, list[Callable[[], Awaitable[None]]]]:
                access = await room.access(session, user_id=user.id)
                if access is None or (process and wanted not in {pid for pid, _ in access.processes}):
                    return _refusal(403), []
                found = await get_process(session, wanted) if wanted is not None else None
                if process and found is None:
                    return _refusal(403), []
                lang = normalise_language(access.language or user.language_code)
                entered = Entered(user, lang, access, found, request.match_info, request.query, body)
                return await work(session, entered), entered.after

            response, after = await svc.db.run(unit)
            for action in after:
                self._in_background(action)
            return response if isinstance(response, web.StreamResponse) else await response()

        return handler

    def _in_background(self, action: Callable[[], Awaitable[None]]) -> None:
        async def run() -> None:
            await action()

        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(run())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def stop(self) -> None:
        """Let what the room started (an export being sent) finish before the server goes."""
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)

    async def me(self, session: AsyncSession, entered: Entered) -> web.Response:
        access = entered.access
        return _json(
            {
                "lang": entered.lang,
                "processes": [{"id": pid, "name": name} for pid, name in access.processes],
                "process": access.active_process_id or access.processes[0][0],
            }
        )

    async def overview(self, session: AsyncSession, entered: Entered) -> web.Response:
        assert entered.process is not None
        now = self.services.clock.now()
        data = await room.overview(session, entered.process, now)
        return _json(views.overview_json(data, self.services.catalog, entered.lang, now))

    async def items(self, session: AsyncSession, entered: Entered) -> web.Response:
        assert entered.process is not None
        query = entered.query
        filters = room.ItemFilters(
            kind=query.get("kind") or None,
            theme=query.get("theme") or None,
            phase=_int(query.get("phase")),
            search=(query.get("q") or "").strip() or None,
            group=_int(query.get("group")),
            hidden=query.get("hidden") == "1",
            offset=_int(query.get("offset")) or 0,
        )
        page = await room.item_page(session, entered.process, filters, self.services.clock.now())
        return _json(views.item_page_json(page, self.services.catalog, entered.lang, entered.tz))

    async def set_hidden(self, session: AsyncSession, entered: Entered) -> web.Response:
        """Hide or restore one submission: the same rule as ``/hide`` (any submission of the process)."""
        assert entered.process is not None
        ref = _int(entered.match.get("ref"))
        hidden = entered.body.get("hidden")
        if ref is None or not isinstance(hidden, bool):
            return _json({"error": "bad_request"}, 400)
        process_id = entered.process.id
        if hidden:
            result = await moderation.hide(session, process_id=process_id, ref=ref)
            found = result.submission is not None
        else:
            submission = await moderation.submission_of_process(session, process_id=process_id, ref=ref)
            found = submission is not None
            if submission is not None and submission.hidden:
                await moderation.unhide(session, submission)
        if not found:
            return _json({"error": "not_found"}, 404)
        return _json({"id": ref, "hidden": hidden})

    async def ideas(self, session: AsyncSession, entered: Entered) -> web.Response:
        assert entered.process is not None
        targets = await room.merge_targets(session, entered.process.id)
        return _json({"ideas": [{"id": idea_id, "title": title} for idea_id, title in targets]})

    async def merge(self, session: AsyncSession, entered: Entered) -> web.Response:
        assert entered.process is not None
        merged_id, kept_id = _int(entered.body.get("merged")), _int(entered.body.get("kept"))
        if merged_id is None or kept_id is None:
            return _json({"error": "bad_request"}, 400)
        result = await merge_ideas(
            session,
            process_id=entered.process.id,
            merged_id=merged_id,
            kept_id=kept_id,
            by_user_id=entered.user.id,
        )
        catalog = self.services.catalog
        if isinstance(result, MergeProblem):
            message = catalog.plain(entered.lang, f"merge.problem.{result}", merged=merged_id, kept=kept_id)
            return _json({"error": str(result), "message": message}, 409)
        done: Merged = result
        entered.after.append(lambda: self._tell(done))
        return _json(
            {
                "kept": done.kept_id,
                "supports": done.kept_supports,
                "moved": done.moved_supports,
                "message": catalog.plain(
                    entered.lang, "room.ui.merged", kept=done.kept_id, supports=done.kept_supports
                ),
            }
        )

    async def _tell(self, merged: Merged) -> None:
        await tell_merged_author(self.application.bot, self.services.catalog, merged)

    async def programme(self, session: AsyncSession, entered: Entered) -> web.Response:
        assert entered.process is not None
        try:
            state = await room.programme_prompts(session, entered.process)
        except ProcessFileError:
            log.warning("the stored programme of process %d cannot be read", entered.process.id)
            return _json({"error": "unreadable"}, 409)
        return _json(views.programme_json(state, self.services.catalog, entered.lang))

    async def save_prompt(self, session: AsyncSession, entered: Entered) -> web.Response:
        assert entered.process is not None
        body = entered.body
        texts = body.get("texts")
        when, remind = body.get("when"), body.get("remind_after", "")
        if not isinstance(texts, dict) or not isinstance(when, str) or not isinstance(remind, str):
            return _json({"error": "bad_request"}, 400)
        edit = PromptEdit(
            prompt_id=entered.match["key"],
            texts={lang: str(texts.get(lang, "")) for lang in LANGUAGES},
            when=when,
            remind_after=remind,
        )
        svc = self.services
        try:
            result = await room.save_prompt(session, entered.process, edit, svc.clock.now(), svc.catalog)
        except KeyError:
            return _json({"error": "not_found"}, 404)
        except ProcessFileError:
            return _json({"error": "unreadable"}, 409)
        if isinstance(result, EditProblems):
            return _json({"error": "invalid", **views.problems_json(result, svc.catalog, entered.lang)}, 422)
        message = svc.catalog.plain(entered.lang, "room.ui.saved", planned=result.plan.planned)
        return _json({"saved": edit.prompt_id, "planned": result.plan.planned, "message": message})

    async def digest(self, session: AsyncSession, entered: Entered) -> web.Response | Later:
        """The digest as the same HTML document the file is, for any period up to now. It is built
        after the request's unit of work, in short units of its own (:mod:`bot.services.digest`), so
        a large one keeps no one else from the database."""
        assert entered.process is not None
        now = self.services.clock.now()
        days = _int(entered.query.get("days"))
        if days is not None and 0 < days <= MAX_DIGEST_DAYS:
            start = now - timedelta(days=days)
        else:
            start = entered.process.created_at
        process_id, lang = entered.process.id, entered.lang

        async def page() -> web.Response:
            svc = self.services
            digest = await digests.build_digest(svc.db, process_id=process_id, start=start, end=now, now=now)
            if digest is None:
                return _refusal(403)
            bundle = await asyncio.to_thread(render_bundle, digest, svc.catalog, lang, weekly=False)
            return web.Response(
                text=bundle.html,
                content_type="text/html",
                charset="utf-8",
                headers={"Cache-Control": "no-store", "Content-Security-Policy": "script-src 'none'"},
            )

        return page

    async def export(self, session: AsyncSession, entered: Entered) -> web.Response:
        """The same export as ``/export``, built off the event loop and sent to the facilitator's chat
        with a "ready" caption; a second press while one is being built starts nothing."""
        assert entered.process is not None
        started = start_export(
            self.application,
            chat_id=entered.user.id,
            lang=entered.lang,
            process_id=entered.process.id,
            now=self.services.clock.now(),
        )
        key = "room.ui.export_started" if started else "export.busy"
        return _json({"message": self.services.catalog.plain(entered.lang, key)}, 202)


def _int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit() and len(value) < 12:
        return int(value)
    return None
