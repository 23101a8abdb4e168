"""A visit in headless Chromium (#24 items 4, 8 and 12, the every-style grid and this visit's pictures), on a server
with the bundled styles (their real names: "Composition VII" is the caption a phone clipped):

- a visitor waiting for the Best quality slot reads in the result panel that another painting is being made and
  about how long until theirs starts; Stop while waiting says it was cancelled, and nothing is painted for them;
- at 390x844 the gallery captions are whole, the slider's label is clear of its icons, the slider is the shape of
  a landscape picture (no blank bands) and Download is on screen once the result is there;
- a transparent PNG comes back, through the page's Download, with its transparency;
- "Try every style on my photo" shows the photo in every bundled style, labelled; a click picks that style;
- this visit's pictures list each result, newest first.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from PIL import Image
from support.demo import make_photo, serve, server_env

REPO = Path(__file__).resolve().parents[1]
SQUEEZENET = (
    Path(os.environ.get("NST_SHARED_DATA", REPO.parent / "shared" / "data"))
    / "pretrained"
    / ("squeezenet1_1_imagenet.pth")
)
PHONE = {"width": 390, "height": 844}
DOWNLOAD_ON = (
    "() => { const b = document.querySelector('#download button, button#download'); return b && !b.disabled; }"
)
TWO_PICTURES = (
    "() => Array.from(document.querySelectorAll('#result-slider img'))"
    ".filter(i => i.complete && i.naturalWidth > 0).length >= 2"
)
STATUS_MATCHES = "re => new RegExp(re).test(document.querySelector('#job-status')?.innerText || '')"
BOX = "e => { const b = e.getBoundingClientRect(); return {x: b.x, y: b.y, w: b.width, h: b.height}; }"


@pytest.fixture(scope="module")
def browser(chromium):
    return chromium


@pytest.fixture(scope="module")
def visit_server(tmp_path_factory):
    """The bundled styles (no NST_WEIGHTS_DIR), and Best quality runs long enough to be waited for."""
    extra = {"NST_SQUEEZENET_WEIGHTS": str(SQUEEZENET)} if SQUEEZENET.is_file() else {}
    env = server_env(Path("unused"), NST_DEMO_PREVIEW_EVERY="2", NST_DEMO_GATYS_STEPS="500", **extra)
    del env["NST_WEIGHTS_DIR"]
    with serve(env) as srv:
        yield srv


def _bundled_labels() -> list[str]:
    from nst_core import list_styles

    labels = [s.display_name or s.name for s in list_styles()]
    if not labels:
        pytest.skip("no bundled styles in weights/")
    return labels


def _upload(page, selector: str, path: Path) -> None:
    page.locator(f"{selector} input[type=file]").set_input_files(str(path))
    page.locator(f"{selector} img").first.wait_for(timeout=60_000)


def _best_quality_ready(page, url: str, photo: Path, painting: Path) -> None:
    page.goto(url, wait_until="domcontentloaded")
    _upload(page, "#content-image", photo)
    page.get_by_role("tab", name="Your own style image").click()
    page.locator("#painting-method").get_by_test_id("Best quality-radio-label").click()
    page.locator("#gatys-run").wait_for(timeout=10_000)
    _upload(page, "#style-image", painting)


def test_a_visitor_waiting_for_the_painting_slot_is_told_how_long_and_can_cancel(browser, visit_server, tmp_path):
    if not SQUEEZENET.is_file():
        pytest.skip(f"SqueezeNet weights not found at {SQUEEZENET}")
    photo = make_photo(tmp_path / "photo.png", size=(160, 120))
    painting = make_photo(tmp_path / "painting.png", size=(120, 150), color=(200, 40, 40))
    first, second = (browser.new_page(viewport={"width": 1280, "height": 900}) for _ in range(2))
    try:
        for page in (first, second):
            _best_quality_ready(page, visit_server.url, photo, painting)
        first.locator("#gatys-run").click()
        first.wait_for_function(TWO_PICTURES, timeout=120_000)  # the first painting is under way (500 steps)
        second.locator("#gatys-run").click()
        wait = r"Another painting is being made\. Yours is next: it starts in about \d+ (s|min)\."
        second.wait_for_function(STATUS_MATCHES, arg=wait, timeout=30_000)
        second.locator("#gatys-stop").click()
        second.wait_for_function(STATUS_MATCHES, arg="^Cancelled before it started", timeout=10_000)
        first.locator("#gatys-stop").click()  # the slot frees: a job still queued for the second page would start
        first.get_by_text("Stopped.", exact=False).first.wait_for(timeout=60_000)
        second.wait_for_timeout(3000)
        assert "Cancelled before it started" in second.locator("#job-status").inner_text()
        assert not second.locator("#result-slider img").count(), "a picture was painted for the cancelled visitor"
        assert not second.locator(".toast-body.error").count(), "an error toast appeared"
    finally:
        first.close()
        second.close()


def test_on_a_phone_captions_are_whole_the_slider_fits_the_picture_and_download_is_on_screen(
    browser, visit_server, tmp_path
):
    labels = _bundled_labels()
    page = browser.new_page(viewport=PHONE, device_scale_factor=1)
    try:
        page.goto(visit_server.url, wait_until="domcontentloaded")
        page.locator("#style-gallery .thumbnail-item").first.wait_for(timeout=60_000)
        captions = page.eval_on_selector_all(
            "#style-gallery .caption-label", "els => els.map(e => [e.innerText, e.scrollWidth, e.clientWidth])"
        )
        assert sorted(c[0] for c in captions) == sorted(labels)
        clipped = [c for c in captions if c[1] > c[2]]
        assert not clipped, f"captions wider than their box (text, scrollWidth, clientWidth): {clipped}"
        _upload(page, "#content-image", make_photo(tmp_path / "landscape.png", size=(480, 240)))
        page.locator("#fast-run").click()
        page.wait_for_function(TWO_PICTURES, timeout=120_000)
        page.wait_for_function(DOWNLOAD_ON, timeout=30_000)
        page.wait_for_timeout(1500)  # the smooth scroll to Download
        slider = page.locator("#result-slider")
        label, picture = slider.locator("[data-testid=block-label]").evaluate(BOX), slider.locator("img").first
        for icon in slider.locator("button").all():
            box = icon.evaluate(BOX)
            apart = box["x"] >= label["x"] + label["w"] or box["y"] >= label["y"] + label["h"]
            assert apart, f"the slider's label {label} runs under an icon {box}"
        outer, inner = slider.evaluate(BOX), picture.evaluate(BOX)
        assert inner["w"] > 2 * inner["h"] * 0.95  # the 2:1 picture, shown whole
        assert outer["h"] - inner["h"] <= 4, (
            f"blank bands: a {outer['h']:.0f} px slider for a {inner['h']:.0f} px picture"
        )
        download = page.locator("#download").evaluate(BOX)
        assert download["y"] >= 0 and download["y"] + download["h"] <= PHONE["height"], (
            f"Download off screen: {download}"
        )
        widths = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
        assert widths[0] <= widths[1], f"page is {widths[0]} px wide in a {widths[1]} px window"
    finally:
        page.close()


def test_a_transparent_photo_comes_back_transparent_through_the_page(browser, visit_server, tmp_path):
    """#24 item 12 in the browser: the PNG that Download hands out keeps the photo's alpha channel."""
    cutout = Image.new("RGBA", (160, 120), (0, 0, 0, 0))
    cutout.paste(Image.open(make_photo(tmp_path / "opaque.png", size=(80, 60))).convert("RGBA"), (40, 30))
    cutout.save(tmp_path / "cutout.png")
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    try:
        page.goto(visit_server.url, wait_until="domcontentloaded")
        _upload(page, "#content-image", tmp_path / "cutout.png")
        page.locator("#fast-run").click()
        page.wait_for_function(DOWNLOAD_ON, timeout=120_000)
        with page.expect_download(timeout=30_000) as download:
            page.locator("#download").click()
        got = tmp_path / "got.png"
        download.value.save_as(got)
    finally:
        page.close()
    with Image.open(got) as result:
        assert result.mode == "RGBA", result.mode
        alpha = result.getchannel("A").resize((160, 120))
    assert alpha.getpixel((5, 5)) == 0 and alpha.getpixel((155, 115)) == 0, "the transparent border was painted"
    assert alpha.getpixel((80, 60)) == 255, "the opaque middle lost its opacity"


def test_every_style_on_my_photo_then_this_visits_pictures(browser, visit_server, tmp_path):
    """One click: the photo in every bundled style, labelled by style; a click on one picks it; two Stylize
    results then head this visit's pictures, newest first."""
    labels = _bundled_labels()
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    try:
        page.goto(visit_server.url, wait_until="domcontentloaded")
        _upload(page, "#content-image", make_photo(tmp_path / "photo.png", size=(200, 150)))
        assert not page.locator("#style-grid").is_visible() and not page.locator("#history").is_visible()
        page.locator("#try-all").click()
        tiles = page.locator("#style-grid .thumbnail-item")
        enough = f"() => document.querySelectorAll('#style-grid .thumbnail-item').length >= {len(labels)}"
        page.wait_for_function(enough, timeout=180_000)
        captions = page.eval_on_selector_all("#style-grid .caption-label", "els => els.map(e => e.innerText)")
        assert captions == labels
        tiles.nth(1).click()
        page.wait_for_function(
            "want => (document.querySelector('#style-name input')?.value || '').startsWith(want)",
            arg=labels[1],
            timeout=10_000,
        )
        for index in (1, 2):
            if index == 2:
                page.locator("#style-gallery .thumbnail-item").nth(2).click()
            page.locator("#fast-run").click()
            page.wait_for_function(
                f"() => document.querySelectorAll('#history .thumbnail-item').length === {index}", timeout=120_000
            )
        history = page.eval_on_selector_all("#history .caption-label", "els => els.map(e => e.innerText)")
        assert history == [labels[2], labels[1]], history
    finally:
        page.close()
