"""The facilitator's room in a real browser: Playwright driving the system's Chromium.

Playwright's own browser download is not reachable here, so the tests launch Debian's ``chromium``
(``apt-get install chromium``; ``.ci/run`` and ``scripts/test`` install it) and abort every request
to telegram.org, so the page runs as it does when Telegram's script cannot load: it reads
``tgWebAppData`` from the URL fragment. Without Chromium the tests skip locally and fail in CI.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from bot.infra.web import WebServer
from sandbox.server import SANDBOX_TOKEN
from tests.support.config import make_settings
from tests.support.programme import start_harness
from tests.support.seed import Seeded, seed_process

CHROMIUM = os.environ.get("VALITUPA_CHROMIUM", "/usr/bin/chromium")
FACILITATOR = 7700
SHOTS = Path(__file__).resolve().parents[2] / "docs" / "room"
LIGHT = {
    "bg_color": "#ffffff",
    "text_color": "#000000",
    "hint_color": "#707579",
    "link_color": "#3390ec",
    "button_color": "#3390ec",
    "button_text_color": "#ffffff",
    "secondary_bg_color": "#f4f4f5",
}
DARK = {
    "bg_color": "#212121",
    "text_color": "#ffffff",
    "hint_color": "#aaaaaa",
    "link_color": "#8774e1",
    "button_color": "#8774e1",
    "button_text_color": "#ffffff",
    "secondary_bg_color": "#181818",
}


def _chromium_or_skip() -> None:
    if Path(CHROMIUM).exists() and shutil.which(CHROMIUM):
        return
    if os.environ.get("CI"):
        pytest.fail(f"CI runs the browser tests, but there is no Chromium at {CHROMIUM}")
    pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)")


def init_data(user_id: int, auth_date: datetime, *, language: str = "fi", token: str = SANDBOX_TOKEN) -> str:
    """initData as Telegram signs it for a user who opened the room at ``auth_date``."""
    import init_data_py

    user = json.dumps(
        {"id": user_id, "first_name": "Fanni", "language_code": language}, separators=(",", ":")
    )
    return init_data_py.sign({"query_id": "AAH-room-test", "user": user}, token, auth_date=auth_date)


@dataclass
class Room:
    bot: Any
    server: WebServer
    seeded: Seeded
    browser: Any
    clock: Any
    shots: Path

    def url(self, data: str, theme: dict[str, str] | None = None, scheme: str = "light") -> str:
        fragment = f"tgWebAppData={quote(data)}&tgWebAppVersion=8.0&tgWebAppPlatform=web"
        fragment += f"&tgWebAppThemeParams={quote(json.dumps(theme or LIGHT))}&tgWebAppColorScheme={scheme}"
        return f"{self.server.url}/app/#{fragment}"

    async def page(self, data: str | None = None, *, width: int = 390, height: int = 844, **url: Any) -> Any:
        context = await self.browser.new_context(viewport={"width": width, "height": height})
        await context.route(
            re.compile(r"^https?://([a-z0-9-]+\.)*telegram\.org/"), lambda route: route.abort()
        )
        page = await context.new_page()
        await page.goto(self.url(self.facilitator_data() if data is None else data, **url))
        return page

    def facilitator_data(self, **kwargs: Any) -> str:
        return init_data(FACILITATOR, self.clock.now(), **kwargs)

    async def shot(self, page: Any, name: str) -> None:
        """A screenshot of a view; with ``VALITUPA_ROOM_SHOTS=1`` into docs/room/ for the README."""
        await page.screenshot(path=str(self.shots / f"{name}.png"), full_page=False)


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    _chromium_or_skip()
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
        )
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
async def room(browser, sandbox, db, clock, tmp_path) -> AsyncIterator[Room]:
    settings = make_settings(sandbox, public_url="https://room.example/tupa")
    seeded = await seed_process(db, facilitator_user_id=FACILITATOR)
    sandbox.user(FACILITATOR, first_name="Fanni", language_code="fi")
    clock.set(seeded.end + timedelta(hours=2))
    bot = await start_harness(sandbox, db, clock, settings)
    server = WebServer(bot.app, host="127.0.0.1", port=0)
    await server.start()
    try:
        shots = SHOTS if os.environ.get("VALITUPA_ROOM_SHOTS") == "1" else tmp_path
        shots.mkdir(parents=True, exist_ok=True)
        yield Room(bot, server, seeded, browser, clock, shots)
    finally:
        await server.stop()
        await bot.stop()
