"""The page in a real browser: upload a photo, pick a style, click, see the before/after slider.

Headless Debian Chromium driven by Playwright (it cannot download its own browser offline). Screenshots go to
artifacts/ (git-ignored) so a person can look at the page after CI.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from support.demo import make_photo

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = Path(os.environ.get("NST_ARTIFACTS_DIR", REPO / "artifacts"))


@pytest.fixture(scope="module")
def browser(chromium):
    return chromium  # headless Chromium, shared by the browser tests of every tab (tests/conftest.py)


SQUEEZENET = (
    Path(os.environ.get("NST_SHARED_DATA", REPO.parent / "shared" / "data"))
    / "pretrained"
    / ("squeezenet1_1_imagenet.pth")
)


@pytest.fixture(scope="module")
def server(demo_page_server):
    return demo_page_server  # one server for every tab's browser tests (tests/conftest.py)


def _photo(tmp_path: Path) -> Path:
    """A real photo when the offline data is there (nicer screenshot), else a synthetic one."""
    shared = Path(os.environ.get("NST_SHARED_DATA", REPO.parent / "shared" / "data"))
    real = shared / "content" / "tubingen.jpg"
    return real if real.is_file() else make_photo(tmp_path / "photo.png", size=(480, 320))


def _style_to_click() -> str:
    """Display name of a bundled (trained) style if the repo ships one, for a real-looking screenshot;
    else the test pattern."""
    from nst_core import list_styles

    shipped = list_styles()
    return shipped[0].display_name if shipped else "Test pattern"


def test_upload_pick_style_and_see_the_slider(browser, server, tmp_path):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1366, "height": 900})
    console_errors: list[str] = []
    page.on("pageerror", lambda exc: console_errors.append(str(exc)))
    try:
        page.goto(server.url, wait_until="domcontentloaded")
        page.locator("#content-image").wait_for(timeout=60_000)

        # 1. upload the photo through the component's own file input
        page.locator("#content-image input[type=file]").set_input_files(str(_photo(tmp_path)))
        page.locator("#content-image img").first.wait_for(timeout=30_000)

        # 2. pick a style in the gallery: the dropdown must follow the click
        target = _style_to_click()
        thumbs = page.locator("#style-gallery .thumbnail-item")
        thumbs.first.wait_for(timeout=30_000)
        labels = [t.get_attribute("aria-label") or t.inner_text() for t in thumbs.all()]
        index = next((i for i, label in enumerate(labels) if target in label), 0)
        thumbs.nth(index).click()
        page.wait_for_function(
            "name => document.querySelector('#style-name input')?.value !== ''", arg=target, timeout=10_000
        )

        # 3. stylise and wait for both halves of the slider
        page.locator("#fast-run").click()
        page.wait_for_function(
            "() => Array.from(document.querySelectorAll('#result-slider img'))"
            ".filter(i => i.complete && i.naturalWidth > 0).length >= 2",
            timeout=120_000,
        )
        download = page.locator("#download")
        page.wait_for_function(
            "() => { const b = document.querySelector('#download button, button#download'); return b && !b.disabled; }",
            timeout=30_000,
        )
        assert download.is_visible()
        assert not page.locator(".toast-body.error").count(), "an error toast appeared"
        page.mouse.move(0, 0)  # no hover highlight in the picture
        page.wait_for_timeout(500)  # let the slider settle
        shot = ARTIFACTS / "demo_browser.png"
        page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 10_000

        # The Gatys tab: its controls render (layout screenshot for review; no optimisation run here).
        page.get_by_role("tab", name="Your own style image").click()
        page.locator("#style-image").wait_for(timeout=10_000)
        page.screenshot(path=str(ARTIFACTS / "demo_browser_gatys_tab.png"), full_page=True)
        assert not console_errors, f"JavaScript errors on the page: {console_errors}"
    finally:
        page.close()


def test_a_broken_upload_gets_a_friendly_message(browser, server, tmp_path):
    """A file that claims to be a JPEG but is not: the page says so in words, no stack trace."""
    fake = tmp_path / "holiday.jpg"
    fake.write_text("definitely not a picture\n" * 40)
    page = browser.new_page(viewport={"width": 1366, "height": 900})
    try:
        page.goto(server.url, wait_until="domcontentloaded")
        page.locator("#content-image").wait_for(timeout=60_000)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.locator("#content-image input[type=file]").set_input_files(str(fake))
        page.wait_for_timeout(1000)
        page.locator("#fast-run").click()
        toast = page.locator(".toast-message-text.error")
        toast.first.wait_for(timeout=30_000)
        text = " ".join(toast.all_inner_texts())
        assert "not an image" in text
        assert "Traceback" not in text and "PIL" not in text
        page.evaluate("window.scrollTo(0, 0)")
        page.wait_for_timeout(300)
        page.screenshot(path=str(ARTIFACTS / "demo_browser_bad_upload.png"))
    finally:
        page.close()


def test_phone_width_has_no_sideways_scroll_and_download_waits_for_the_new_result(browser, server, tmp_path):
    """390x844 (a phone): the page fits its width. While a new job runs, Download is off (it would hand out the
    previous picture)."""
    page = browser.new_page(viewport={"width": 390, "height": 844}, device_scale_factor=1)
    try:
        page.goto(server.url, wait_until="domcontentloaded")
        page.locator("#style-gallery .thumbnail-item").first.wait_for(timeout=60_000)
        page.wait_for_timeout(500)
        widths = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
        assert widths[0] <= widths[1], f"page is {widths[0]} px wide in a {widths[1]} px window"
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "demo_browser_phone.png"), full_page=True)

        page.locator("#content-image input[type=file]").set_input_files(str(_photo(tmp_path)))
        page.locator("#content-image img").first.wait_for(timeout=30_000)
        enabled = (
            "() => { const b = document.querySelector('#download button, button#download'); return b && !b.disabled; }"
        )
        page.locator("#fast-run").click()
        page.wait_for_function(enabled, timeout=120_000)
        page.locator("#fast-run").click()  # a second job: the old result must not stay downloadable meanwhile
        page.wait_for_function(f"() => !({enabled})()", timeout=10_000)
        page.wait_for_function(enabled, timeout=120_000)
    finally:
        page.close()


def test_stop_ends_a_gatys_run_with_a_message_and_the_picture_so_far(browser, server, tmp_path):
    """Stop just after an intermediate image: "Stopped." as a notice, no red Error badge, the partial picture kept
    and downloadable (the old Stop cancelled the event from outside and raced with the streamed images)."""
    if not SQUEEZENET.is_file():
        pytest.skip(f"SqueezeNet weights not found at {SQUEEZENET}")
    page = browser.new_page(viewport={"width": 1366, "height": 900})
    try:
        page.goto(server.url, wait_until="domcontentloaded")
        page.locator("#content-image input[type=file]").set_input_files(str(_photo(tmp_path)))
        page.locator("#content-image img").first.wait_for(timeout=30_000)
        page.get_by_role("tab", name="Your own style image").click()
        page.locator("#painting-method").get_by_test_id("Best quality-radio-label").click()  # Instant is the default
        page.locator("#gatys-run").wait_for(timeout=10_000)
        style = make_photo(tmp_path / "style.png", size=(200, 160))
        page.locator("#style-image input[type=file]").set_input_files(str(style))
        page.locator("#style-image img").first.wait_for(timeout=30_000)
        page.locator("#gatys-run").click()
        page.wait_for_function(
            "() => Array.from(document.querySelectorAll('#result-slider img'))"
            ".filter(i => i.complete && i.naturalWidth > 0).length >= 2",
            timeout=120_000,
        )
        page.locator("#gatys-stop").click()
        page.get_by_text("Stopped.", exact=False).first.wait_for(timeout=60_000)
        page.wait_for_function(
            "() => { const b = document.querySelector('#download button, button#download'); return b && !b.disabled; }",
            timeout=30_000,
        )
        page.wait_for_timeout(1000)
        assert not page.locator(".toast-body.error").count(), "an error toast appeared"
        assert not page.locator("#style-image .error").count(), "an Error badge sits on the style image"
        page.screenshot(path=str(ARTIFACTS / "demo_browser_stopped.png"))
    finally:
        page.close()


def test_examples_are_clickable_on_a_phone(browser, server):
    """At 390 px: a photo example fills the photo and style and paints itself (Download then serves it); a
    painting example fills the custom-style tab's style image. The page still fits the phone's width."""
    page = browser.new_page(viewport={"width": 390, "height": 844}, device_scale_factor=1)
    try:
        page.goto(server.url, wait_until="domcontentloaded")
        rows = page.locator("#photo-examples tbody tr")
        rows.first.wait_for(timeout=60_000)
        assert rows.count() == 2  # the built-in scene and the operator's photo
        rows.nth(1).locator("td").first.click()
        page.locator("#content-image img").first.wait_for(timeout=30_000)
        page.locator("#result-slider img").first.wait_for(timeout=120_000)
        page.wait_for_function(
            "() => { const b = document.querySelector('#download button, button#download'); return b && !b.disabled; }",
            timeout=60_000,
        )
        page.get_by_role("tab", name="Your own style image").click()
        painting = page.locator("#painting-examples img").first  # one input: a row of thumbnails, not a table
        painting.click()
        page.locator("#style-image img").first.wait_for(timeout=30_000)
        widths = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
        assert widths[0] <= widths[1], f"page is {widths[0]} px wide in a {widths[1]} px window"
    finally:
        page.close()


def test_the_before_after_handle_moves_by_keyboard(browser, server):
    """The slider's handle is a focusable ARIA slider: arrows move it (it used to be reachable only by dragging)."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    try:
        page.goto(server.url, wait_until="domcontentloaded")
        page.locator("#photo-examples tbody tr").first.locator("td").first.click(timeout=60_000)
        page.locator("#result-slider img").first.wait_for(timeout=120_000)
        handle = page.locator("#result-slider [data-testid='slider']")
        assert handle.get_attribute("role") == "slider" and handle.get_attribute("tabindex") == "0"
        handle.focus()
        start = handle.bounding_box()["x"]
        for _ in range(3):
            page.keyboard.press("ArrowLeft")
        page.wait_for_function(
            "([sel, x]) => document.querySelector(sel).getBoundingClientRect().x < x - 20",
            arg=["#result-slider [data-testid='slider']", start],
            timeout=10_000,
        )
        left = int(handle.get_attribute("aria-valuenow"))
        page.keyboard.press("End")
        page.wait_for_function(
            "([sel, v]) => Number(document.querySelector(sel).getAttribute('aria-valuenow')) > v + 20",
            arg=["#result-slider [data-testid='slider']", left],
            timeout=10_000,
        )
    finally:
        page.close()


def _fetch_image(url: str):
    """A picture the page shows, read from the server (loopback, never via a proxy)."""
    import io
    import urllib.request

    from PIL import Image

    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url, timeout=30) as resp:
        return Image.open(io.BytesIO(resp.read())).convert("RGB")


def test_a_painted_region_alone_is_styled(browser, server, tmp_path):
    """Paint a band across the middle of the photo with the mouse on the editor, Stylize: the slider shows the
    whole picture, the band is painted and, away from the stroke and its feather, the result is the photo."""
    import numpy as np

    photo = make_photo(tmp_path / "region.png", size=(240, 160))
    page = browser.new_page(viewport={"width": 1366, "height": 900})
    try:
        page.goto(server.url, wait_until="domcontentloaded")
        page.locator("#content-image input[type=file]").set_input_files(str(photo))
        page.locator("#content-image img").first.wait_for(timeout=30_000)
        page.locator("#region").get_by_text("Style only part of the photo").click()
        canvas = page.locator("#region-editor canvas").first
        canvas.wait_for(timeout=30_000)
        page.wait_for_timeout(1000)  # the photo lands on the canvas as its background
        box = canvas.bounding_box()
        y = box["y"] + box["height"] / 2
        page.mouse.move(box["x"] + box["width"] * 0.4, y)
        page.mouse.down()
        for i in range(1, 21):  # a stroke of small moves, as a hand draws it
            page.mouse.move(box["x"] + box["width"] * (0.4 + 0.2 * i / 20), y)
        page.mouse.up()
        page.wait_for_timeout(500)
        page.locator("#fast-run").click()
        page.wait_for_function(
            "() => Array.from(document.querySelectorAll('#result-slider img'))"
            ".filter(i => i.complete && i.naturalWidth > 0).length >= 2",
            timeout=120_000,
        )
        assert not page.locator(".toast-body.error").count(), "an error toast appeared"
        page.screenshot(path=str(ARTIFACTS / "demo_browser_region.png"))
        before_url, after_url = page.eval_on_selector_all("#result-slider img", "els => els.map(e => e.src)")[:2]
    finally:
        page.close()
    before, after = (np.asarray(_fetch_image(u), np.int16) for u in (before_url, after_url))
    assert before.shape == after.shape and before.shape[1] > before.shape[0]  # the whole picture, landscape
    diff = np.abs(after - before).max(axis=2)
    h, w = diff.shape
    # The stroke runs through the middle; it, its brush's width and the feather stay inside the middle half.
    assert diff[: h // 4].max() <= 2 and diff[-h // 4 :].max() <= 2, "the unpainted top and bottom changed"
    assert diff[:, : w // 5].max() <= 2 and diff[:, -w // 5 :].max() <= 2, "the unpainted sides changed"
    assert diff[h // 2 - 2 : h // 2 + 2, w * 9 // 20 : w * 11 // 20].mean() > 20, "the painted band was not styled"
