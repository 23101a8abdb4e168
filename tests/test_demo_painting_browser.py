"""The custom-painting tab in headless Chromium, on a server where no loss network loads (empty torch hub cache,
no NST_*_WEIGHTS, every download refused): Best quality is greyed with its reason in words, and Instant, the
default, still paints a result with the bundled network. And a message with `<...>` in it (like a download's
`<urlopen error ...>`) reaches the toast whole, not eaten as an HTML tag.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from support.demo import make_photo, make_style_dir, serve, server_env

ARTIFACTS = Path(os.environ.get("NST_ARTIFACTS_DIR", Path(__file__).resolve().parents[1] / "artifacts"))
DEAD_PROXY = "http://127.0.0.1:9"
TWO_PICTURES = (
    "() => Array.from(document.querySelectorAll('#result-slider img'))"
    ".filter(i => i.complete && i.naturalWidth > 0).length >= 2"
)
DOWNLOAD_ON = (
    "() => { const b = document.querySelector('#download button, button#download'); return b && !b.disabled; }"
)


@pytest.fixture(scope="module")
def bare_server(tmp_path_factory):
    root = tmp_path_factory.mktemp("bare")
    nothing = {var: "" for var in ("NST_VGG19_WEIGHTS", "NST_VGG16_WEIGHTS", "NST_SQUEEZENET_WEIGHTS")}
    proxies = {var: DEAD_PROXY for var in ("https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY")}
    env = server_env(make_style_dir(root), TORCH_HOME=str(root / "torch"), NST_DEMO_FIRST_IMPRESSION="1", **nothing,
                     **proxies)  # fmt: skip
    with serve(env) as srv:
        yield srv


@pytest.fixture(scope="module")
def browser(chromium):
    return chromium


def test_instant_is_the_default_and_paints_while_best_quality_is_greyed_with_its_reason(browser, bare_server, tmp_path):
    page = browser.new_page(viewport={"width": 1366, "height": 900})
    try:
        page.goto(bare_server.url, wait_until="domcontentloaded")
        page.locator("#content-image input[type=file]").set_input_files(
            str(make_photo(tmp_path / "photo.png", size=(240, 160)))
        )
        page.locator("#content-image img").first.wait_for(timeout=60_000)
        page.get_by_role("tab", name="Your own style image").click()
        method = page.locator("#painting-method")
        method.wait_for(timeout=10_000)
        assert "Best quality is off: it needs VGG-19 or SqueezeNet, and neither is on this server." in (
            method.inner_text()
        )
        radios = method.locator("input[type=radio]")
        assert radios.count() == 2 and all(radios.nth(i).is_disabled() for i in range(2))  # greyed out
        assert method.locator("input[type=radio]:checked").get_attribute("value") == "arbitrary"
        assert not page.locator("#gatys-run").is_visible()
        painting = make_photo(tmp_path / "painting.png", size=(120, 150), color=(200, 40, 40))
        page.locator("#style-image input[type=file]").set_input_files(str(painting))
        page.locator("#style-image img").first.wait_for(timeout=30_000)
        page.locator("#instant-run").click()
        page.wait_for_function(TWO_PICTURES, timeout=120_000)
        page.wait_for_function(DOWNLOAD_ON, timeout=30_000)
        assert not page.locator(".toast-body.error").count(), "an error toast appeared"
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "demo_browser_instant.png"), full_page=True)
    finally:
        page.close()


def test_the_page_opens_with_a_finished_example_and_the_bundled_paintings(browser, bare_server):
    """#24 item 5: before any click the slider shows a painted example (a bundled public-domain/CC0 photo); the
    custom tab offers the bundled public-domain paintings as examples; the photo examples are real photos."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    try:
        page.goto(bare_server.url, wait_until="domcontentloaded")
        page.wait_for_function(TWO_PICTURES, timeout=60_000)
        assert page.locator("#photo-examples tbody tr").count() >= 5  # four photos and the drawn scene
        page.get_by_role("tab", name="Your own style image").click()
        page.locator("#painting-examples img").first.wait_for(timeout=30_000)
        assert page.locator("#painting-examples img").count() >= 6
        assert "The Starry Night, Vincent van Gogh (1889)" in page.locator("#painting-credits").inner_text()
    finally:
        page.close()


def test_a_message_with_angle_brackets_reaches_the_toast_whole(browser, bare_server, tmp_path):
    """The real engine's refusal of a style name typed by the visitor, which echoes it: before the messages were
    escaped, `<urlopen error ...>` vanished from the toast as an unknown HTML tag."""
    name = "<urlopen error [Errno 111] Connection refused>"
    page = browser.new_page(viewport={"width": 1366, "height": 900})
    try:
        page.goto(bare_server.url, wait_until="domcontentloaded")
        page.locator("#content-image input[type=file]").set_input_files(str(make_photo(tmp_path / "photo.png")))
        page.locator("#content-image img").first.wait_for(timeout=60_000)
        box = page.locator("#style-name input")
        box.fill(name)
        box.press("Enter")
        page.locator("#fast-run").click()
        toast = page.locator(".toast-message-text.error")
        toast.first.wait_for(timeout=60_000)
        text = " ".join(toast.all_inner_texts())
        assert f"Unknown style '{name}'. Available styles: " in text, text
        assert "/tmp" not in text and "/work" not in text and "Traceback" not in text, text
    finally:
        page.close()
