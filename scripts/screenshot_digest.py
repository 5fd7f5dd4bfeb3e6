"""Render the seeded process's weekly digest as HTML and photograph it with headless Chromium.

Keeps ``docs/digest.png`` (the picture in the README) in step with the code: the process is the one
the tests seed (``tests/seed.py``), the digest is built, charted and rendered exactly as the bot
sends it, and Chromium shows the page at a desktop width.

Run from the repository root: ``.venv/bin/python scripts/screenshot_digest.py`` (needs ``chromium``;
``apt-get install -y chromium fonts-noto-color-emoji`` on Debian). ``--html FILE`` also keeps the
page, ``--language sv`` or ``en`` renders it for a Swedish- or English-speaking facilitator.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.render.chart import participation_chart  # noqa: E402
from bot.render.digest_html import html_document  # noqa: E402
from bot.render.labels import Labels  # noqa: E402
from bot.services.digest import build_digest  # noqa: E402
from messages import default_catalog  # noqa: E402
from storage import migrate  # noqa: E402
from storage.db import Database  # noqa: E402
from tests.support.seed import seed_process  # noqa: E402

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)


async def seeded_digest_html(database_path: Path, language: str) -> str:
    db = Database(f"sqlite+aiosqlite:///{database_path}")
    try:
        await migrate.upgrade(db)
        seeded = await seed_process(db)
        digest = await build_digest(
            db, process_id=seeded.process_id, start=seeded.start, end=seeded.end, now=seeded.end
        )
    finally:
        await db.dispose()
    assert digest is not None
    catalog = default_catalog()
    chart = participation_chart(digest.weekly, Labels(catalog, language, digest.tz))
    return html_document(digest, catalog, language, chart_png=chart, weekly=True)


def screenshot(page: Path, target: Path, *, width: int, height: int) -> None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if browser is None:
        raise SystemExit("No Chromium found: apt-get install -y chromium fonts-noto-color-emoji")
    with tempfile.TemporaryDirectory(prefix="valitupa-chromium-") as profile:
        # The browser is the one on PATH and every argument is built here: nothing untrusted runs.
        subprocess.run(  # noqa: S603
            [
                browser,
                *CHROMIUM_FLAGS,
                f"--user-data-dir={profile}",
                f"--screenshot={target}",
                f"--window-size={width},{height}",
                page.as_uri(),
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "digest.png")
    parser.add_argument("--html", type=Path, help="also keep the rendered page here")
    parser.add_argument("--language", choices=("fi", "sv", "en"), default="fi")
    parser.add_argument("--width", type=int, default=1000)
    parser.add_argument("--height", type=int, default=2400)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="valitupa-screenshot-") as scratch:
        page = Path(scratch) / "digest.html"
        html = asyncio.run(seeded_digest_html(Path(scratch) / "seed.db", args.language))
        page.write_text(html, encoding="utf-8")
        if args.html is not None:
            args.html.write_text(html, encoding="utf-8")
        args.out.parent.mkdir(parents=True, exist_ok=True)
        screenshot(page, args.out.resolve(), width=args.width, height=args.height)
    sys.stdout.write(f"Wrote {args.out}\n")


if __name__ == "__main__":
    main()
