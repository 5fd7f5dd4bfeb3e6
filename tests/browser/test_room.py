"""The room in a real browser: it opens with valid initData and shows the process; forged, expired,
a participant's and a stranger's initData see nothing of it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from playwright.async_api import expect

from tests.browser.conftest import DARK, Room, init_data

pytestmark = pytest.mark.browser
PROCESS = "Hyvän tahdon Ilomantsi 2027"


async def test_the_room_opens_with_valid_init_data_and_shows_the_process(room: Room) -> None:
    # Given Fanni, a facilitator, opens the room from Telegram on her phone
    page = await room.page()
    # Then she sees her process, its phases and who takes part, in Finnish
    await expect(page.get_by_role("heading", name=PROCESS)).to_be_visible()
    await expect(page.get_by_text("Osallistuminen organisaatioittain ja rooleittain")).to_be_visible()
    await expect(page.get_by_text("Työpaja 5: ")).to_be_visible()
    # and the quiet groups are flagged in words, not only in colour
    await expect(page.get_by_text("hiljainen ryhmä").first).to_be_visible()
    # with counts in real Finnish: "1 viesti", "8 viestiä", "1 aktiivinen" (never "1 viestejä")
    await expect(page.get_by_text("1 viesti", exact=True).first).to_be_visible()
    await expect(page.get_by_text("8 viestiä", exact=True).first).to_be_visible()
    await expect(page.get_by_text("1 aktiivinen", exact=True).first).to_be_visible()
    await expect(page.get_by_text("viestejä")).to_have_count(0)
    await room.shot(page, "overview")


async def test_the_room_follows_telegrams_dark_theme_on_a_desktop(room: Room) -> None:
    page = await room.page(width=1280, height=900, theme=DARK, scheme="dark")
    await expect(page.get_by_role("heading", name=PROCESS)).to_be_visible()
    background = await page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(33, 33, 33)"
    await room.shot(page, "overview-dark-desktop")


async def test_the_room_speaks_the_facilitators_language(room: Room) -> None:
    page = await room.page(room.facilitator_data(language="sv"))
    # The stored language (Finnish, chosen when she joined) wins over the client's.
    await expect(page.get_by_role("button", name="Havainnot ja ideat")).to_be_visible()


@pytest.mark.parametrize("who", ["forged", "expired", "participant", "stranger", "missing"])
async def test_nobody_but_a_facilitator_sees_anything_of_the_process(room: Room, who: str) -> None:
    now = room.clock.now()
    participant = room.seeded.user_ids["kunta-tyo-1"]
    data = {
        "forged": init_data(7700, now, token="123456:" + "A" * 35),
        "expired": init_data(7700, now - timedelta(hours=24, minutes=1)),
        "participant": init_data(participant, now),
        "stranger": init_data(424242, now),
        "missing": "",
    }[who]
    page = await room.page(data)
    await expect(page.locator("#refused")).to_be_visible()
    if data:
        # in the language of the client that opened it (without initData, the browser's)
        await expect(page.locator("#refused")).to_contain_text("Huoneeseen pääsee vain")
    content = await page.content()
    assert PROCESS not in content
    # and the API itself answers with a refusal that holds nothing of a process
    pid = room.seeded.process_id
    for path in ("me", f"p/{pid}/overview", f"p/{pid}/items", f"p/{pid}/programme", f"p/{pid}/digest"):
        response = await page.request.get(
            f"{room.server.url}/app/api/{path}", headers={"Authorization": f"tma {data}"}
        )
        assert response.status in (401, 403)
        body = await response.text()
        assert PROCESS not in body and "kahvihetk" not in body.lower()
        expected = 403 if who in ("participant", "stranger") else 401
        assert response.status == expected, (path, response.status)


async def test_a_facilitator_of_one_process_sees_nothing_of_another(room: Room, db) -> None:
    from tests.support.seed import seed_process

    other = await seed_process(db, name="Toinen prosessi", user_base=8000)
    page = await room.page()
    await expect(page.get_by_role("heading", name=PROCESS)).to_be_visible()
    for path in ("overview", "items", "programme", "digest"):
        response = await page.request.get(
            f"{room.server.url}/app/api/p/{other.process_id}/{path}",
            headers={"Authorization": f"tma {room.facilitator_data()}"},
        )
        assert response.status == 403
        assert "Toinen prosessi" not in await response.text()


async def test_init_data_never_reaches_a_log(room: Room, caplog) -> None:
    import logging
    from urllib.parse import parse_qs

    caplog.set_level(logging.DEBUG)
    data = room.facilitator_data()
    page = await room.page(data)
    await expect(page.get_by_role("heading", name=PROCESS)).to_be_visible()
    await page.get_by_role("button", name="Havainnot ja ideat").click()
    await expect(page.get_by_role("heading", name="Havainnot ja ideat")).to_be_visible()
    forged = data[:-4] + "0000"
    await page.request.get(f"{room.server.url}/app/api/me", headers={"Authorization": f"tma {forged}"})
    signature = parse_qs(data)["hash"][0]
    logged = caplog.text + "".join(str(record.args) for record in caplog.records)
    assert signature not in logged and forged[-40:] not in logged and "query_id" not in logged


async def test_the_room_without_its_slash_redirects_relatively(room: Room) -> None:
    page = await room.page()
    response = await page.request.get(f"{room.server.url}/app", max_redirects=0)
    assert response.status == 302
    assert response.headers["location"] == "app/"
