"""Screenshots for the README: `ledgerline demo` on its embedded defaults (its own folder and
ports), then Debian's Chromium through Playwright, signed in as the demo's supervisor, saves
the wall board (`docs/board.png`) while the demo's calls move it, and today's queue, money
and agent report (`docs/report.png`).

    .venv/bin/python tools/screenshots.py [--port 18480] [--out docs]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import aiohttp
from playwright.async_api import Page, async_playwright, expect

CHROMIUM = "/usr/bin/chromium"  # Debian's; never a browser Playwright downloads
DEMO_PASSWORD = "ledgerline-demo"  # pbx.demo_centre's, for the demo's users
SUPERVISOR = ("ofek", "noa")  # the demo business and its supervisor
MAX_BYTES = 200_000
ROOT = Path(__file__).resolve().parent.parent


async def _wait_healthy(url: str, within_s: float = 120.0) -> None:
    deadline = time.monotonic() + within_s
    async with aiohttp.ClientSession() as http:
        while True:
            with contextlib.suppress(aiohttp.ClientError):
                async with http.get(url + "/healthz") as response:
                    if response.status == 200:
                        return
            if time.monotonic() > deadline:
                raise SystemExit(f"the demo did not answer {url}/healthz within {within_s} s")
            await asyncio.sleep(0.5)


async def _sign_in(page: Page, url: str) -> None:
    await page.goto(url)
    tenant, username = SUPERVISOR
    await page.locator("input[name=tenant]").fill(tenant)
    await page.locator("input[name=username]").fill(username)
    await page.locator("input[name=password]").fill(DEMO_PASSWORD)
    await page.locator("#login-form button").click()


async def _shoot(url: str, out: Path) -> None:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        page = await browser.new_page(viewport={"width": 1280, "height": 720})
        await _sign_in(page, url + "/board?lang=en")
        await expect(page.locator("#connection")).to_have_text("Live", timeout=30_000)
        # Calls arrive every second and are answered after a wait: let them queue up.
        await expect(page.locator("[data-figure=waiting]").filter(has_not_text="0").first
                     ).to_be_visible(timeout=60_000)  # fmt: skip
        # And wait on until a tile has turned amber or red, if the demo's callers wait that long.
        with contextlib.suppress(AssertionError):
            await expect(page.locator(".tile.amber, .tile.red").first).to_be_visible(timeout=60_000)
        await page.screenshot(path=out / "board.png")
        today = datetime.now(ZoneInfo("Asia/Jerusalem")).date().isoformat()
        asked = f"from={today}&to={today}&interval=hour"
        await page.goto(f"{url}/reports?lang=en&{asked}")
        # A call counts once it ends: show the report again until the demo's first have.
        deadline = time.monotonic() + 120
        rows = page.locator("#queue-table tbody tr[data-queue]")
        while not await rows.count():
            if time.monotonic() > deadline:
                raise SystemExit("no report with the demo's calls within two minutes")
            await asyncio.sleep(5)
            await page.locator("#filters button[type=submit]").click()
        await expect(page.locator("body")).to_have_attribute("data-loaded", asked)
        await page.screenshot(path=out / "report.png", full_page=True)
        await browser.close()
    for name in ("board.png", "report.png"):
        size = (out / name).stat().st_size
        print(f"{out / name}: {size} bytes")
        if size > MAX_BYTES:
            raise SystemExit(f"{name} is {size} bytes, over {MAX_BYTES}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=18480, help="the demo's HTTP port")
    parser.add_argument("--out", type=Path, default=ROOT / "docs")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ledgerline-shots-") as data:
        env = os.environ | {
            "LEDGERLINE_SERVICE_HTTP_PORT": str(args.port),
            "LEDGERLINE_AGI_PORT": str(args.port + 1),
            "LEDGERLINE_SERVICE_SECRET_FILE": str(Path(data) / "secret"),
        }  # fmt: skip
        demo = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "pbx.cli", "demo", "--data-dir", data, "--call-every", "1",
            "--talk-seconds", "20", env=env, cwd=ROOT, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        try:
            url = f"http://127.0.0.1:{args.port}"
            await _wait_healthy(url)
            await _shoot(url, args.out)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(demo.pid, signal.SIGTERM)
            await demo.wait()


if __name__ == "__main__":
    asyncio.run(main())
