"""The room's views in a real browser: observations listed and hidden (and gone from the digest), a
merge that moves supports, a programme edit that /schedule then shows, and the digest inline."""

from __future__ import annotations

import pytest
from playwright.async_api import expect
from sqlalchemy import func, select

from storage.models import Submission, Support
from tests.browser.conftest import FACILITATOR, Room
from tests.support.seed import OBSERVATIONS, SUPPORTS

pytestmark = pytest.mark.browser


async def digest_html(room: Room, page) -> str:
    response = await page.request.get(
        f"{room.server.url}/app/api/p/{room.seeded.process_id}/digest?days=30",
        headers={"Authorization": f"tma {room.facilitator_data()}"},
    )
    assert response.status == 200
    return await response.text()


async def test_observations_are_listed_and_a_hide_removes_one_from_the_digest(room: Room) -> None:
    page = await room.page()
    await page.get_by_role("button", name="Havainnot ja ideat").click()
    await expect(page.get_by_role("heading", name="Havainnot ja ideat")).to_be_visible()
    # Given an observation the digest quotes
    before = await digest_html(room, page)
    index, text = next(
        (i, o.text) for i, o in enumerate(OBSERVATIONS) if o.text and not o.hidden and o.text[:40] in before
    )
    ref = room.seeded.submission_ids[f"obs:{index}"]
    card = page.locator(f"article[data-id='{ref}']")
    await expect(card).to_contain_text(text[:40])
    await room.shot(page, "items")
    # When Fanni hides it in the room
    await card.get_by_role("button", name="Piilota").click()
    await expect(page.locator(f"article[data-id='{ref}']")).to_have_count(0)
    # Then the digest no longer quotes it, and it can be found among the hidden ones to restore
    assert text[:40] not in await digest_html(room, page)
    await page.get_by_label("Näytä piilotetut").check()
    await expect(page.locator(f"article[data-id='{ref}']")).to_contain_text("piilotettu")
    async with room.bot.db.session() as session:
        assert (await session.get(Submission, ref)).hidden is True


async def test_filters_narrow_the_list_and_groups_are_only_the_digests_merged_ones(room: Room) -> None:
    page = await room.page()
    await page.get_by_role("button", name="Havainnot ja ideat").click()
    total = await page.locator("#count").text_content()
    await page.get_by_label("Laji").select_option("idea")
    await expect(page.locator("#count")).not_to_have_text(total or "")
    for kind in await page.locator("article .meta span:first-child").all_text_contents():
        assert kind.startswith("Idea #")
    groups = await page.get_by_label("Ryhmä").locator("option").all_text_contents()
    # "Ilomantsin seurakunta · Muu" has one person: never offered as a filter of its own
    assert "Ilomantsin seurakunta · Muu" not in groups and "Muut" in groups
    await page.get_by_label("Hae tekstistä").fill("bykyyti")
    await page.get_by_label("Hae tekstistä").press("Enter")
    await expect(page.locator("article")).to_have_count(1)
    await expect(page.locator("article")).to_contain_text("Bykyyti till butiken")


async def test_a_merge_in_the_room_moves_the_supports_to_the_kept_idea(room: Room) -> None:
    seeded = room.seeded
    author = room.bot.sandbox.user(seeded.user_ids["srk-tyo-3"])
    kept, merged = seeded.submission_ids["idea:0"], seeded.submission_ids["idea:1"]
    page = await room.page()
    await page.get_by_role("button", name="Havainnot ja ideat").click()
    await page.get_by_label("Laji").select_option("idea")
    await expect(page.locator("article .meta span").first).to_contain_text("Idea #")
    card = page.locator(f"article[data-id='{merged}']")
    await card.get_by_role("button", name="Yhdistä toiseen ideaan").click()
    await card.get_by_label("Säilytettävä idea").select_option(str(kept))
    await room.shot(page, "merge")
    await card.get_by_role("button", name="Yhdistä", exact=True).click()
    supports = len(SUPPORTS[0]) + len(SUPPORTS[1])
    await expect(page.locator("#status")).to_have_text(
        room.bot.catalog.plain("fi", "room.ui.merged", kept=kept, supports=supports)
    )
    await expect(page.locator(f"article[data-id='{merged}']")).to_have_count(0)
    await expect(page.locator(f"article[data-id='{kept}'] .supports")).to_have_text(
        room.bot.catalog.plain("fi", "room.ui.supports", count=supports)
    )
    async with room.bot.db.session() as session:
        count = await session.scalar(select(func.count()).select_from(Support).where(Support.idea_id == kept))
    assert count == supports
    await room.bot.idle()
    assert "yhdistettiin samankaltaiseen ideaan" in author.messages[-1]["text"]


async def test_a_programme_edit_shows_up_in_schedule(room: Room) -> None:
    fanni = room.bot.sandbox.user(FACILITATOR)
    page = await room.page()
    await page.get_by_role("button", name="Ohjelma").click()
    await expect(page.get_by_role("heading", name="Ohjelma")).to_be_visible()
    await room.shot(page, "programme")
    await page.get_by_role("button", name="Muokkaa p1-reminder").click()
    # The Telegram back button's stand-in: Escape (and the form's own Back) return to the list
    await page.keyboard.press("Escape")
    await expect(page.get_by_role("heading", name="Ohjelma")).to_be_visible()
    await page.get_by_role("button", name="Muokkaa p1-reminder").click()
    # A mistake is shown at its field, in the YAML check's own words
    await page.get_by_label("Milloin").fill("W9 -1d 15:00")
    await page.get_by_label("Teksti (fi)").fill("Hei {tuntematon}")
    await page.get_by_role("button", name="Tallenna").click()
    await expect(page.locator("[data-field='when'] .problem")).to_contain_text("W9")
    await expect(page.locator("[data-field='text.fi'] .problem")).to_contain_text("{tuntematon}")
    await expect(page.get_by_label("Milloin")).to_have_attribute("aria-invalid", "true")
    await room.shot(page, "programme-form")
    # Fixed, it saves and re-plans
    await page.get_by_label("Milloin").fill("W2 -2d 14:30")
    await page.get_by_label("Teksti (fi)").fill(
        "Huomenna ylihuomenna on työpaja {workshop_number}! Tule mukaan."
    )
    await page.get_by_role("button", name="Tallenna").click()
    await expect(page.locator("#status")).to_contain_text("Tallennettu")
    await room.bot.command(fanni, "schedule")
    schedule = fanni.messages[-1]["text"]
    assert "Huomenna ylihuomenna on työpaja 2! Tule mukaan." in schedule
    assert "14.30" in schedule


async def test_the_digest_is_shown_inline_and_the_export_goes_to_the_chat(room: Room) -> None:
    fanni = room.bot.sandbox.user(FACILITATOR)
    page = await room.page(width=1280, height=900)
    await page.get_by_role("button", name="Kooste").click()
    frame = page.frame_locator("iframe.digest-frame")
    await expect(frame.locator("h1").first).to_be_visible()
    await page.get_by_label("Jakso").select_option("all")
    await page.get_by_role("button", name="Näytä").click()
    await expect(frame.locator("h1").first).to_be_visible()
    await room.shot(page, "digest")
    await page.get_by_role("button", name="Lähetä vienti chattiin").click()
    status = room.bot.catalog.plain("fi", "room.ui.export_started")
    await expect(page.locator("#status")).to_have_text(status)
    await room.bot.idle()  # the export is built off the event loop; idle waits for it
    documents = [m for m in fanni.messages if "document" in m]
    assert any(m["document"]["file_name"].endswith(".xlsx") for m in documents)
    assert any(m["document"]["file_name"].endswith(".zip") for m in documents)
    # and the workbook's caption tells her it is ready
    assert any("Vienti on valmis" in m.get("caption", "") for m in documents)


async def test_the_room_works_by_keyboard_alone_at_phone_width(room: Room) -> None:
    page = await room.page(width=360, height=740)
    await expect(page.get_by_role("heading", name="Hyvän tahdon Ilomantsi 2027")).to_be_visible()
    scroll_width = await page.evaluate("document.documentElement.scrollWidth")
    assert scroll_width <= 360
    await page.get_by_role("button", name="Yleiskuva").focus()
    await page.keyboard.press("Tab")
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("heading", name="Havainnot ja ideat")).to_be_visible()
    assert await page.evaluate("document.activeElement.tagName") == "H2"
