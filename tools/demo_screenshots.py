"""The README's screenshots of the demo: desktop (1280x900) and phone (390x844) width, after clicking the built-in
example (bundled styles, the built-in scene: no dataset image ends up in the repository).

    python tools/demo_screenshots.py            # writes demo/screenshot_desktop.png and demo/screenshot_phone.png

Needs Chromium (`make browser`) and the dev dependencies (Playwright).
"""

from __future__ import annotations

import io
import os
import re
import sys
from pathlib import Path

from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from playwright.sync_api import sync_playwright  # noqa: E402
from support.demo import serve  # noqa: E402

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
SHOTS = {"desktop": ((1280, 900), 900), "phone": ((390, 844), 390)}  # viewport, saved width
# What each shows: the desktop page from the top (everything at a glance); the phone at its result, the part that
# sits below the controls there, with Download under it.


def shoot(url: str, browser, viewport: tuple[int, int], width: int, out: Path) -> None:
    page = browser.new_page(viewport={"width": viewport[0], "height": viewport[1]})
    page.goto(url)
    page.locator("#photo-examples tbody tr").first.locator("td").first.click(timeout=120_000)
    page.locator("#result-slider img").first.wait_for(timeout=120_000)
    # Finished, not just started: Download names the size it serves only once the new result is in.
    page.locator("#download", has_text=re.compile(r"\(\d+x\d+\)")).wait_for(timeout=180_000)
    page.wait_for_function("!document.body.innerText.includes('processing |')", timeout=180_000)  # Gradio's timer
    page.wait_for_timeout(1500)
    if viewport[0] < 600:
        page.locator("#download").evaluate("e => e.scrollIntoView({block: 'end'})")  # the result and Download
    else:
        page.evaluate("window.scrollTo(0, 0)")
    shot = Image.open(io.BytesIO(page.screenshot())).convert("RGB")
    shot.thumbnail((width, 10_000))
    shot.quantize(256).save(out, optimize=True)  # small PNGs for the README
    page.close()


def main() -> int:
    env = {k: v for k, v in os.environ.items() if k != "NST_WEIGHTS_DIR"}  # the bundled styles
    with serve(env) as srv, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=os.environ.get("NST_CHROMIUM", "/usr/bin/chromium"), args=ARGS)
        for name, (viewport, width) in SHOTS.items():
            shoot(srv.url, browser, viewport, width, REPO / "demo" / f"screenshot_{name}.png")
        browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
