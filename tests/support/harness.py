"""A running Välitupa against the Bot API sandbox, with helpers that act like people would."""

from __future__ import annotations

import asyncio
from typing import Any

from bot.app import build_application
from bot.context import Services
from bot.domain.clock import FakeClock
from bot.domain.programme import parse_process
from bot.infra.updates import Poller
from bot.runner import ALLOWED_UPDATES
from bot.services.processes import create_process
from bot.settings import Settings
from messages import default_catalog
from storage.db import Database
from storage.models import Process
from tests.support.factories import process_yaml


class BotHarness:
    def __init__(self, *, sandbox: Any, db: Database, clock: FakeClock, settings: Settings) -> None:
        self.sandbox = sandbox
        self.db = db
        self.clock = clock
        self.settings = settings
        self.services = Services(
            settings=settings, db=db, clock=clock, catalog=default_catalog(), instance="test"
        )
        self.app = build_application(self.services)
        # Time is a FakeClock here: tests run the leader duties at the instants they choose
        # (``services.duties.run_all``), not on the JobQueue's real-time intervals.
        assert self.services.duties is not None
        self.services.duties.auto = False
        self.catalog = self.services.catalog
        self.poller: Poller | None = None

    async def start(self) -> None:
        await self.app.initialize()
        assert self.app.post_init is not None
        await self.app.post_init(self.app)
        await self.app.start()
        assert self.services.updates is not None
        self.poller = Poller(self.app, self.services.updates, allowed_updates=ALLOWED_UPDATES, timeout=1)
        await self.poller.start()

    async def stop(self) -> None:
        await self.idle()
        wake = getattr(self.sandbox, "wake_pollers", None)
        if wake is not None:
            wake()
        if self.poller is not None:
            await self.poller.stop()
        if self.services.updates is not None:
            await self.services.updates.stop()
        if self.app.running:
            await self.app.stop()
        await self.app.shutdown()
        if self.app.post_shutdown is not None:
            await self.app.post_shutdown(self.app)

    async def idle(self, timeout: float = 30.0) -> None:
        """Wait until every update sent so far has been fetched and fully handled.

        Fetched: the sandbox holds no unconfirmed update (the poller confirms a batch by asking
        for the next one, after it stored the batch in the inbox). Handled: the inbox has nothing
        queued or in hand (``UpdateInbox.idle``). Nothing
        the handlers started is still waiting on the sandbox. Each step wakes on an event, so the
        wait ends the moment the bot is idle; ``timeout`` only bounds a bot that never gets there
        (generous: the first digest on a busy machine takes seconds).
        """
        updates = self.services.updates
        assert updates is not None
        try:
            async with asyncio.timeout(timeout):
                while True:
                    await self.sandbox.wait_updates_consumed(timeout)
                    await updates.idle()
                    # An export a handler started goes on in the background until its files are sent.
                    exporting = [task for task in self.services.exports.values() if not task.done()]
                    if exporting:
                        await asyncio.wait(exporting)
                        continue
                    await self.sandbox.wait_requests_answered(timeout)
                    if self.sandbox.pending_update_count == 0 and not self._busy():
                        return
        except TimeoutError:
            raise TimeoutError("the bot did not become idle") from None

    def _busy(self) -> bool:
        assert self.services.updates is not None
        return self.services.updates.busy or self.sandbox.open_requests > 0

    def t(self, lang: str, key: str, **params: object) -> str:
        return self.catalog.t(lang, key, **params)

    async def create_process(self, yaml_text: str | None = None, *, created_by: int | None = None) -> Process:
        text = yaml_text or process_yaml()
        spec = parse_process(text)
        now = self.clock.now()
        return await self.db.run(
            lambda session: create_process(
                session, spec=spec, source_yaml=text, created_by=created_by, now=now
            )
        )

    async def press(self, user: Any, prefix: str) -> None:
        """Press the newest button whose callback data starts with ``prefix`` and let the bot react."""
        for message in reversed(user.messages):
            for _text, data in user.buttons(message):
                if data and data.startswith(prefix):
                    await user.press(message["message_id"], data)
                    await self.idle()
                    return
        raise AssertionError(f"no button {prefix!r} in {[m.get('text') for m in user.messages][-3:]}")

    async def say(self, user: Any, text: str, **kwargs: Any) -> None:
        await user.send_text(text, **kwargs)
        await self.idle()

    async def command(self, user: Any, command: str, args: str = "") -> None:
        await user.send_command(command, args)
        await self.idle()

    async def join(
        self,
        user: Any,
        process: Process,
        *,
        organisation: int = 0,
        role: str = "employee",
        language: str | None = None,
        show_name: bool = False,
        facilitator: bool = False,
    ) -> None:
        """Walk the whole joining dialogue the way a participant does."""
        code = process.facilitator_code if facilitator else process.participant_code
        await user.start(code)
        await self.idle()
        asks_consent = any((data or "").startswith("cs:y:") for _t, data in user.buttons(user.messages[-1]))
        if asks_consent:
            await self.press(user, "cs:y:")
            if language:
                await self.press(user, f"lg:{language}")
            else:
                preselected = next(
                    data for text, data in user.buttons(user.messages[-1]) if text.startswith("✓")
                )
                await self.press(user, preselected)
        if facilitator:
            return
        await self.press(user, "og:") if organisation == 0 else await self._press_nth(
            user, "og:", organisation
        )
        await self.press(user, f"rl:{role}")
        await self.press(user, "nm:y" if show_name else "nm:n")

    async def _press_nth(self, user: Any, prefix: str, index: int) -> None:
        for message in reversed(user.messages):
            matching = [data for _t, data in user.buttons(message) if data and data.startswith(prefix)]
            if matching:
                await user.press(message["message_id"], matching[index])
                await self.idle()
                return
        raise AssertionError(f"no buttons {prefix!r}")
