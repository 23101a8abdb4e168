"""The demo's public API, end to end: a real `python -m demo` server on loopback, called with gradio_client.

No bundled weights needed: a tiny random-init style is written to a temp dir and exposed via NST_WEIGHTS_DIR.
Gatys runs use the real SqueezeNet / VGG-19 from shared data (skipped with a reason when absent), at 64 px.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from PIL import Image
from support.demo import STYLE, make_photo, make_style_dir, serve, server_env

from demo.config import DemoConfig
from demo.handlers import Stylist, capped_int, friendly_error, parse_blend

gradio_client = pytest.importorskip("gradio_client")
from gradio_client import Client, handle_file  # noqa: E402
from gradio_client.exceptions import AppError  # noqa: E402
from support import aio  # noqa: E402

FAST_PARAMS = ["image", "style", "strength", "preserve_colors", "size"]
REGION_PARAMS = [*FAST_PARAMS, "mask", "invert_mask"]
VIDEO_PARAMS = ["video", "style", "strength", "stabilize", "size", "painting"]
INSTANT_PARAMS = ["content", "style_image", "strength", "preserve_colors", "size", "extra_styles", "blend_weights"]
INSTANT_MCP_PARAMS = ["content", "style_image", "strength", "preserve_colors", "size"]
GATYS_PARAMS = [
    "content",
    "style_image",
    "loss_net",
    "size",
    "steps",
    "content_weight",
    "style_weight",
    "tv_weight",
    "optimizer",
    "preserve_colors",
    "seed",
    "extra_styles",
    "blend_weights",
]


@pytest.fixture(scope="module")
def photo(tmp_path_factory) -> Path:
    return make_photo(tmp_path_factory.mktemp("img") / "photo.png")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo")
    shared = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "pretrained"
    extra = {"NST_DEMO_PREVIEW_EVERY": "2", "NST_DEMO_GATYS_MAX_STEPS": "10000"}
    for var, name in (
        ("NST_SQUEEZENET_WEIGHTS", "squeezenet1_1_imagenet.pth"),
        ("NST_VGG19_WEIGHTS", "vgg19_caffe_imagenet_conv.pth"),
    ):
        if (shared / name).is_file():
            extra[var] = str(shared / name)
    with serve(server_env(make_style_dir(root), **extra)) as srv:
        yield srv


@pytest.fixture(scope="module")
def client(server, tmp_path_factory) -> Client:
    return Client(server.url, verbose=False, download_files=str(tmp_path_factory.mktemp("downloads")))


def _open(path: str) -> Image.Image:
    with Image.open(path) as im:
        im.load()
        return im.copy()


def test_api_is_stable(client):
    """Parameter names and order are the contract with API and MCP users: changing them breaks them."""
    api = client.view_api(return_format="dict", print_info=False)["named_endpoints"]
    assert [p["parameter_name"] for p in api["/stylize"]["parameters"]] == FAST_PARAMS
    assert [p["parameter_name"] for p in api["/stylize_gatys"]["parameters"]] == GATYS_PARAMS
    assert [p["parameter_name"] for p in api["/stylize_region"]["parameters"]] == REGION_PARAMS
    # Page plumbing (style refresh, gallery clicks, Stop) stays out of the public API.
    assert [p["parameter_name"] for p in api["/stylize_video"]["parameters"]] == VIDEO_PARAMS
    assert [p["parameter_name"] for p in api["/stylize_arbitrary"]["parameters"]] == INSTANT_PARAMS
    assert [p["parameter_name"] for p in api["/stylize_with_painting_instant"]["parameters"]] == INSTANT_MCP_PARAMS
    assert set(api) == {"/stylize", "/stylize_gatys", "/stylize_image", "/stylize_with_painting", "/stylize_video",
                        "/stylize_arbitrary", "/stylize_with_painting_instant", "/stylize_region"}  # fmt: skip
    # Only the pictures are required: the generated snippets must work as written (no "Hello!!" blend weights).
    for name, images in (
        ("/stylize", {"image"}),
        ("/stylize_gatys", {"content", "style_image"}),
        ("/stylize_image", {"image"}),
        ("/stylize_with_painting", {"content", "style_image"}),
        ("/stylize_arbitrary", {"content", "style_image"}),
        ("/stylize_with_painting_instant", {"content", "style_image"}),
        ("/stylize_video", {"video"}),
        ("/stylize_region", {"image"}),  # no mask: the whole picture
    ):
        required = {p["parameter_name"] for p in api[name]["parameters"] if not p["parameter_has_default"]}
        assert required == images, (name, required)


def _mcp_call(url: str, tool: str | None, arguments: dict) -> tuple[list, object]:
    """List the tools and (optionally) call one through the official MCP client over streamable HTTP."""

    import httpx
    from mcp import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    async def go() -> tuple[list, object]:
        http = httpx.AsyncClient(trust_env=False, timeout=httpx.Timeout(60, read=300))  # loopback, no proxy
        async with (
            http,
            streamable_http_client(url + "gradio_api/mcp/", http_client=http) as (read, write, _),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            tools = (await session.list_tools()).tools
            result = await session.call_tool(tool, arguments) if tool else None
            return tools, result

    return aio.run(go())


def test_mcp_clients_get_an_image(server, photo):
    """An MCP client lists one tool per job and gets the painted picture as an MCP image block (it used to get a
    text repr of file records from `stylize`, whose before/after pair is for the page)."""
    import base64
    import importlib.util
    import io

    if importlib.util.find_spec("mcp") is None:
        pytest.skip('MCP server off: the `mcp` package is not installed (pip install "gradio[mcp]")')
    data = "data:image/png;base64," + base64.b64encode(photo.read_bytes()).decode()
    tools, result = _mcp_call(server.url, "stylize_image", {"image": data, "style": STYLE, "size": 64})
    by_name = {t.name: t for t in tools}
    # the page's pair endpoints stay API-only
    assert set(by_name) == {"stylize_image", "stylize_with_painting", "stylize_with_painting_instant"}
    assert list(by_name["stylize_image"].inputSchema["properties"]) == FAST_PARAMS
    assert list(by_name["stylize_with_painting_instant"].inputSchema["properties"]) == INSTANT_MCP_PARAMS
    assert set(by_name["stylize_with_painting"].inputSchema.get("required", [])) <= {"content", "style_image"}
    assert not result.isError, result.content
    images = [c for c in result.content if c.type == "image"]
    assert len(images) == 1 and images[0].mimeType == "image/png"
    with Image.open(io.BytesIO(base64.b64decode(images[0].data))) as picture:
        assert max(picture.size) == 64 and picture.size[0] > picture.size[1]  # the 96x64 photo, painted at 64 px
    arguments = {"content": data, "style_image": data, "size": 72}  # Instant, the bundled network: one picture
    _, result = _mcp_call(server.url, "stylize_with_painting_instant", arguments)
    assert not result.isError, result.content
    images = [c for c in result.content if c.type == "image"]
    assert len(images) == 1 and images[0].mimeType == "image/png"
    with Image.open(io.BytesIO(base64.b64decode(images[0].data))) as picture:
        assert picture.size == (72, 48)


def test_fast_endpoint_returns_before_after_and_png(client, photo):
    slider, png = client.predict(handle_file(str(photo)), STYLE, 1.0, False, 64, api_name="/stylize")
    before, after = (_open(p) for p in slider)
    full = _open(png)
    assert Path(png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert full.size == (64, 43) or full.size == (64, 42)  # long side 64, aspect kept
    assert before.size == after.size == full.size
    # The 'before' half is the uploaded photo (sky blue top-right), not someone else's picture.
    r, _g, b = before.convert("RGB").getpixel((before.width - 2, 2))
    assert b > r and b > 150


def test_a_transparent_png_comes_back_transparent(client, photo, tmp_path):
    cutout = _open(str(photo)).convert("RGBA").resize((96, 64))
    alpha = Image.new("L", cutout.size, 0)
    alpha.paste(255, (24, 16, 72, 48))  # an opaque rectangle on a transparent ground
    cutout.putalpha(alpha)
    cutout.save(tmp_path / "cutout.png")
    slider, png = client.predict(handle_file(str(tmp_path / "cutout.png")), STYLE, 1.0, False, 96, api_name="/stylize")
    full = _open(png)
    assert full.mode == "RGBA" and full.size == (96, 64)
    assert full.getchannel("A").getpixel((2, 2)) == 0 and full.getchannel("A").getpixel((48, 32)) == 255
    assert _open(slider[1]).mode == "RGBA"  # the slider's "after" too


def test_a_mask_upload_styles_its_region_and_invert_the_rest(client, photo, tmp_path):
    """/stylize_region with a greyscale mask (white = styled) on the left half: the right half comes back as the
    photo, the left half painted; invert_mask swaps them. The slider's 'before' is the whole photo."""
    import numpy as np

    mask = Image.new("L", (96, 64), 0)
    mask.paste(255, (0, 0, 40, 64))  # columns 0-39 of 96; the feather is a pixel or two
    mask.save(tmp_path / "mask.png")
    halves = {}
    for invert in (False, True):
        args = (handle_file(str(photo)), STYLE, 1.0, False, 96, handle_file(str(tmp_path / "mask.png")), invert)
        slider, png = client.predict(*args, api_name="/stylize_region")
        before, after = (np.asarray(_open(p).convert("RGB"), np.int16) for p in (slider[0], png))
        assert before.shape == after.shape == (64, 96, 3)
        diff = np.abs(after - before).max(axis=2)
        halves[invert] = (diff[:, :32], diff[:, 48:])  # inside, outside the mask (clear of the feather)
    inside, outside = halves[False]
    assert outside.max() <= 1 and inside.mean() > 20, (outside.max(), inside.mean())
    inside, outside = halves[True]
    assert inside.max() <= 1 and outside.mean() > 20, (inside.max(), outside.mean())


def test_a_mask_that_is_not_a_picture_is_refused_in_words(client, photo, tmp_path):
    bogus = tmp_path / "mask.png"
    bogus.write_text("not a mask\n" * 20)
    with pytest.raises(AppError) as err:
        client.predict(handle_file(str(photo)), STYLE, 1.0, False, 64, handle_file(str(bogus)), False,
                       api_name="/stylize_region")  # fmt: skip
    msg = str(err.value)
    assert "not an image" in msg and "/tmp" not in msg and "Traceback" not in msg, msg


def test_fast_strength_zero_returns_the_photo(client, photo):
    slider, png = client.predict(handle_file(str(photo)), STYLE, 0.0, False, 96, api_name="/stylize")
    before, full = _open(slider[0]).convert("RGB"), _open(png).convert("RGB")
    diff = max(abs(a - b) for a, b in zip(before.getpixel((80, 10)), full.getpixel((80, 10)), strict=True))
    assert diff <= 12


def test_non_image_upload_gets_a_friendly_error(client, tmp_path):
    bogus = tmp_path / "notes.txt"
    bogus.write_text("this is not an image\n" * 20)
    with pytest.raises(AppError) as err:
        client.predict(handle_file(str(bogus)), STYLE, 1.0, False, 64, api_name="/stylize")
    msg = str(err.value)
    assert "not an image" in msg
    assert "Traceback" not in msg and "PIL" not in msg and "/tmp/" not in msg


def test_uploads_a_visitor_gets_wrong_are_explained_in_their_words(client, tmp_path):
    """Truncated JPEG: no server path; 1x1 and 2000x8: refused, not painted as a flat square or a crash."""
    buf = io.BytesIO()
    Image.effect_mandelbrot((400, 300), (-2, -1, 1, 1), 40).convert("RGB").save(buf, "JPEG")
    cases = {"truncated.jpg": buf.getvalue()[: len(buf.getvalue()) // 2]}
    for name, size in (("dot.png", (1, 1)), ("strip.png", (2000, 8))):
        out = io.BytesIO()
        Image.new("RGB", size, (90, 140, 200)).save(out, "PNG")
        cases[name] = out.getvalue()
    for name, data in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(AppError) as err:
            client.predict(handle_file(str(path)), STYLE, 1.0, False, 64, api_name="/stylize")
        msg = str(err.value)
        assert msg.startswith("Your photo is ") or msg.startswith("your photo is "), msg
        assert ("too small" in msg) == (name != "truncated.jpg"), msg
        assert "/tmp" not in msg and "gradio" not in msg.lower() and "Traceback" not in msg, msg


def test_a_huge_camera_jpeg_is_shrunk_not_refused(tmp_path, monkeypatch):
    """Over the server's pixel limit as decoded at full size; results are at most max_size px anyway."""
    import gradio as gr

    monkeypatch.setenv("NST_WEIGHTS_DIR", str(make_style_dir(tmp_path / "styles")))
    big = tmp_path / "camera.jpg"
    Image.effect_mandelbrot((3000, 2000), (-2, -1, 1, 1), 30).convert("RGB").save(big, quality=80)
    stylist = Stylist(DemoConfig(device="cpu", max_size=256, max_pixels=2_000_000), out_dir=tmp_path)
    (before, after), _png = stylist.stylize(str(big), STYLE, size=128)
    assert before.size == after.size and after.size[0] == 128 and after.size[1] in (85, 86)
    png = tmp_path / "camera.png"
    Image.new("RGB", (3000, 2000)).save(png)  # no reduced-scale decoding for PNG: the limit stands, said plainly
    with pytest.raises(gr.Error, match="too large") as err:
        stylist.stylize(str(png), STYLE, size=128)
    assert "NST_MAX_PIXELS" not in str(err.value) and str(tmp_path) not in str(err.value)


@pytest.mark.parametrize(
    ("style", "size", "needle"),
    [
        ("no_such_style", 64, "no_such_style"),
        (STYLE, 100_000, "1024"),
    ],
)
def test_bad_options_get_friendly_errors(client, photo, style, size, needle):
    with pytest.raises(AppError) as err:
        client.predict(handle_file(str(photo)), style, 1.0, False, size, api_name="/stylize")
    msg = str(err.value)
    assert needle in msg
    assert "Traceback" not in msg


def _gatys_args(photo: Path, loss_net: str, steps: int) -> tuple:
    return (
        handle_file(str(photo)),
        handle_file(str(photo)),  # any image works as a style; we only check the plumbing here
        loss_net,
        64,
        steps,
        None,
        None,
        None,
        "adam",
        False,
        0,
        None,
        "",
    )


def test_gatys_streams_intermediate_images_then_the_result(client, photo, squeezenet_path):
    job = client.submit(*_gatys_args(photo, "squeezenet", 6), api_name="/stylize_gatys")
    slider, png = job.result(timeout=240)
    assert _open(png).size[0] == 64
    assert len(job.outputs()) >= 2, "expected intermediate images before the final one"
    before, after = (_open(p) for p in slider)
    assert before.size == after.size


def test_cancelling_a_gatys_job_stops_the_core_and_frees_the_slot(client, server, photo, squeezenet_path):
    """What the Stop button does, through the API: cancel mid-run; the next Gatys job must still run."""
    job = client.submit(*_gatys_args(photo, "squeezenet", 10_000), api_name="/stylize_gatys")
    deadline = time.monotonic() + 120
    while not job.outputs() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert job.outputs(), "no intermediate image arrived"
    job.cancel()
    deadline = time.monotonic() + 60
    while "stopped before the end" not in server.log_tail(20_000) and time.monotonic() < deadline:
        time.sleep(0.3)
    assert "stopped before the end" in server.log_tail(20_000)
    _, png = client.predict(*_gatys_args(photo, "squeezenet", 2), api_name="/stylize_gatys")
    assert _open(png).size[0] == 64


def test_gatys_full_quality_vgg19(client, photo, vgg19_path):
    _slider, png = client.predict(*_gatys_args(photo, "vgg19", 2), api_name="/stylize_gatys")
    assert _open(png).size[0] == 64


def test_gatys_blend_weights_are_checked(client, photo):
    args = list(_gatys_args(photo, "squeezenet", 2))
    args[-1] = "1, 2, 3"
    with pytest.raises(AppError, match=r"got 3 weight\(s\) for 1 image") as err:
        client.predict(*args, api_name="/stylize_gatys")
    assert "Traceback" not in str(err.value)


def test_server_still_healthy_after_errors(client, photo):
    _slider, png = client.predict(handle_file(str(photo)), STYLE, 0.5, True, 64, api_name="/stylize")
    assert _open(png).size[0] == 64


# -- in-process: cancellation reaches the core -------------------------------------------------------------
def test_closing_the_gatys_stream_sets_the_cancel_event(monkeypatch, photo, tmp_path):
    """The Stop button / a closed tab cancels the generator; the core's `cancel` event must then be set."""
    import nst_core

    seen: dict[str, threading.Event] = {}
    finished = threading.Event()

    def fake_stylize(content, *, cancel, callback, **kwargs):
        seen["cancel"] = cancel
        step = 0
        try:
            while not cancel.wait(0.01):
                step += 1
                callback(nst_core.Progress(step=step, total=10_000, image=content))
            raise nst_core.Cancelled("Stopped on request.")
        finally:
            finished.set()

    monkeypatch.setattr(nst_core, "stylize", fake_stylize)
    stylist = Stylist(DemoConfig(device="cpu"), out_dir=tmp_path)

    async def run() -> None:
        gen = stylist.stylize_gatys(str(photo), str(photo), progress=lambda *a, **k: None)
        (before, after), _ = await gen.__anext__()
        assert after.size == before.size
        await gen.aclose()

    aio.run(run())
    assert seen["cancel"].is_set()
    assert finished.wait(5), "the worker thread should stop once cancelled"


def test_instant_on_the_page_styles_only_the_brushed_region(photo, tmp_path):
    """The editor's value as the page sends it (the photo under one brush layer, transparent where unpainted):
    Instant paints only the brushed left part; "everything but" the rest; nothing brushed: the whole picture."""
    import numpy as np

    from demo.handlers import INSIDE, OUTSIDE

    stylist = Stylist(DemoConfig(device="cpu"), out_dir=tmp_path)
    painting = make_photo(tmp_path / "painting.png", size=(80, 100), color=(200, 30, 160))
    layer = Image.new("RGBA", (96, 64), (0, 0, 0, 0))
    layer.paste((255, 45, 85, 153), (0, 0, 40, 64))  # a see-through brush colour: only its alpha counts
    empty = Image.new("RGBA", (96, 64), (0, 0, 0, 0))

    def changed(layers: list, mode: str) -> tuple[np.ndarray, np.ndarray]:
        editor = {"background": _open(str(photo)), "layers": layers, "composite": None}

        async def run() -> list:
            form = (str(photo), str(painting), 1.0, False, 96, None, "", editor, None, mode)
            return [a async for a in stylist.stylize_arbitrary_page(*form, progress=lambda *a, **k: None)]

        (before, after), png = aio.run(run())[-1]
        assert Path(png).is_file() and before.size == after.size == (96, 64)
        diff = np.abs(np.asarray(after.convert("RGB"), np.int16) - np.asarray(before.convert("RGB"), np.int16))
        return diff.max(axis=2)[:, :32], diff.max(axis=2)[:, 48:]  # inside, outside the stroke (clear of the feather)

    inside, outside = changed([layer], INSIDE)
    assert outside.max() <= 1 and inside.mean() > 10, (outside.max(), inside.mean())
    inside, outside = changed([layer], OUTSIDE)
    assert inside.max() <= 1 and outside.mean() > 10, (inside.max(), outside.mean())
    inside, outside = changed([empty], INSIDE)  # nothing painted: the whole picture, as without a region
    assert inside.mean() > 10 and outside.mean() > 10, (inside.mean(), outside.mean())


def test_server_caps_and_core_limits(photo, tmp_path):
    """In-process (no widget range check): the server's cap is the demo's, everything below it is the core's."""
    import gradio as gr

    stylist = Stylist(DemoConfig(device="cpu", max_size=1024), out_dir=tmp_path)
    with pytest.raises(gr.Error, match="at most 1024 on this server"):
        stylist.stylize(str(photo), STYLE, size=4096)  # the core would allow it; this server does not
    with pytest.raises(gr.Error, match="from 16 to"):
        stylist.stylize(str(photo), STYLE, size=8)  # nst_core's OptionsError, shown as is


def test_error_translation():
    import gradio as gr

    import nst_core

    assert friendly_error(nst_core.ImageError("That is not a picture.")).message == "That is not a picture."
    generic = friendly_error(RuntimeError("CUDA driver exploded at 0xdeadbeef"))
    assert isinstance(generic, gr.Error) and "0xdeadbeef" not in generic.message
    assert parse_blend(" 0.7, 0.3 ") == [0.7, 0.3]
    assert parse_blend("") is None
    with pytest.raises(gr.Error, match="numbers separated by commas"):
        parse_blend("a, b")
    assert capped_int("12", "Steps", 500) == 12
    with pytest.raises(gr.Error, match="at most 500 on this server"):
        capped_int(501, "Steps", 500)
    with pytest.raises(gr.Error, match="whole number"):
        capped_int("many", "Steps", 500)


@pytest.mark.parametrize(
    "var, value, needle",
    [
        ("NST_DEMO_MAX_SIZE", "big", "NST_DEMO_MAX_SIZE must be a whole number, got 'big'"),
        ("NST_DEMO_FAST_SIZE", "8", "NST_DEMO_FAST_SIZE must be between 64 and "),  # and the fast engine's largest
        ("GRADIO_SERVER_PORT", "99999", "GRADIO_SERVER_PORT must be between 1 and 65535"),
    ],
)
def test_mistyped_setting_stops_the_start_with_one_clear_line(monkeypatch, var, value, needle):
    import gradio as gr

    from demo.app import launch

    monkeypatch.setenv(var, value)
    monkeypatch.setenv("NST_DEMO_DEVICE", "cpu")
    monkeypatch.setattr(gr.Blocks, "launch", lambda *a, **k: pytest.fail("started despite the bad setting"))
    with pytest.raises(SystemExit) as exit_info:
        launch([])
    assert str(exit_info.value).startswith(f"error: {needle}")


def test_the_space_entry_point_reports_a_bad_setting_in_one_line(tmp_path):
    """app.py (what a Hugging Face Space runs) builds the page at import: same one-line error, exit status 1."""
    repo = Path(__file__).resolve().parents[1]
    env = {**os.environ, **server_env(make_style_dir(tmp_path)), "NST_DEMO_MAX_SIZE": "huge"}
    done = subprocess.run([sys.executable, "app.py"], cwd=repo, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == "error: NST_DEMO_MAX_SIZE must be a whole number, got 'huge'."
    assert "Traceback" not in done.stderr


def test_gatys_progress_says_the_pass_and_the_time_left():
    from demo.handlers import _describe
    from nst_core import Progress

    assert _describe(Progress(step=1, total=150, elapsed=0.5)) == "Painting… step 1/150 · 0 s"
    text = _describe(Progress(step=60, total=150, elapsed=40.0, scale=1, scales=2))
    assert text == "Painting… step 60/150 (coarse-to-fine pass 1 of 2) · 40 s, about 1 min left"


def test_visitor_mistakes_log_a_line_not_a_traceback(client, server, photo, tmp_path):
    """Bad uploads and out-of-range numbers are the sender's mistakes: answered, and no traceback in the log."""
    bogus = tmp_path / "notes.jpg"
    bogus.write_text("not a picture\n" * 20)
    before = server.log_tail(10**8).count("Traceback")
    for args in [
        (handle_file(str(bogus)), STYLE, 1.0, False, 64),
        (handle_file(str(photo)), "no_such_style", 1.0, False, 64),
        (handle_file(str(photo)), STYLE, 1.0, False, 5000),
        (handle_file(str(photo)), STYLE, 7.0, False, 64),
        (None, STYLE, 1.0, False, 64),  # "Please add a photo first."
    ]:
        with pytest.raises(AppError):
            client.predict(*args, api_name="/stylize")
    notes = tmp_path / "notes.txt"
    notes.write_text("a clip, honest\n")
    with pytest.raises(AppError):  # Gradio's own "Invalid file type" check of the video input
        client.predict(handle_file(str(notes)), STYLE, 1.0, True, 64, api_name="/stylize_video")
    # Gradio prints a traceback before it answers with the error, and stderr is unbuffered: no wait needed
    assert server.log_tail(10**8).count("Traceback") == before, server.log_tail(3000)


def test_switching_quality_keeps_what_the_visitor_typed(tmp_path):
    """Full quality brings its own recommended size (sharper in the comparison), steps and weights; a value the
    visitor typed stays (it used to be overwritten silently)."""
    stylist = Stylist(DemoConfig(device="cpu", gatys_size=256, max_size=1024), out_dir=tmp_path)
    preview, full = stylist.gatys_defaults("squeezenet"), stylist.gatys_defaults("vgg19")
    fields = ["size", "steps", "content_weight", "style_weight", "tv_weight"]
    assert full["size"] > preview["size"] == 256
    assert preview["style_weight"] != full["style_weight"]

    untouched = stylist.on_loss_net_change("vgg19", *[preview[f] for f in fields])
    assert list(untouched) == [full[f] for f in fields]

    typed = [preview[f] for f in fields]
    typed[3] = 123.0  # the visitor's own style weight
    typed[0] = float(preview["size"])  # gradio hands numbers back as floats: still the default
    answer = stylist.on_loss_net_change("vgg19", *typed)
    assert answer[3] == {"__type__": "update"}  # gr.skip(): the typed 123 stays in the box
    assert [answer[i] for i in (0, 1, 2, 4)] == [full[f] for f in ("size", "steps", "content_weight", "tv_weight")]


def test_gallery_tiles_show_the_painting_when_the_operator_has_it(tmp_path, monkeypatch):
    """A painting in NST_DEMO_EXAMPLES/paintings named like a style appears inset on its gallery tile; without
    one (or with a broken file) the tile is the style's sample result."""
    from nst_core.styles import get_style

    monkeypatch.setenv("NST_WEIGHTS_DIR", str(make_style_dir(tmp_path)))
    paintings = tmp_path / "examples" / "paintings"
    paintings.mkdir(parents=True)
    stylist = Stylist(DemoConfig(device="cpu", examples_dir=str(tmp_path / "examples")), out_dir=tmp_path / "out")
    info = get_style(STYLE)
    assert stylist.gallery_items([info])[0][0] == str(info.preview_path)

    Image.new("RGB", (60, 90), (10, 20, 240)).save(paintings / f"{STYLE}.png")
    with Image.open(stylist.gallery_items([info])[0][0]) as tile, Image.open(info.preview_path) as preview:
        tile, preview = tile.convert("RGB"), preview.convert("RGB").resize(tile.size)
        inset = tile.getpixel((tile.width - 40, 40))
        assert inset[2] > 200 and inset[0] < 60, inset  # the painting's blue, in the top right corner
        corner, expected = tile.getpixel((5, 5)), preview.getpixel((5, 5))
        assert sum(abs(a - b) for a, b in zip(corner, expected, strict=True)) < 60  # the sample result elsewhere

    (paintings / f"{STYLE}.png").write_bytes(b"not a picture")
    assert stylist.gallery_items([info])[0][0] == str(info.preview_path)


# -- Instant: any painting in one pass, the bundled network -------------------------------------------------------
def _rgb(img: Image.Image):
    import numpy as np

    return np.asarray(img.convert("RGB"), dtype=np.float64)


def _mean_difference(a: Image.Image, b: Image.Image) -> float:
    return float(abs(_rgb(a) - _rgb(b.resize(a.size))).mean())


def test_instant_blends_paintings_and_answers_with_before_after_and_png(client, photo, tmp_path):
    red = make_photo(tmp_path / "red.png", size=(80, 100), color=(220, 30, 30))
    blue = make_photo(tmp_path / "blue.png", size=(80, 100), color=(20, 40, 230))
    answers = {}
    for blend in ("1, 0", "0, 1"):
        slider, png = client.predict(handle_file(str(photo)), handle_file(str(red)), 1.0, False, 64,
                                     [handle_file(str(blue))], blend, api_name="/stylize_arbitrary")  # fmt: skip
        before, after, full = _open(slider[0]), _open(slider[1]), _open(png)
        assert Path(png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert before.size == after.size == full.size and max(full.size) == 64
        answers[blend] = full.convert("RGB")
    reddish = [float((_rgb(img)[..., 0] - _rgb(img)[..., 2]).mean()) for img in answers.values()]
    assert reddish[0] > reddish[1], "the blend weights must decide which painting's colours win"


def test_instant_strength_zero_gives_the_photo_and_bad_blends_are_refused(client, photo):
    slider, png = client.predict(handle_file(str(photo)), handle_file(str(photo)), 0.0, False, 96, None, "",
                                 api_name="/stylize_arbitrary")  # fmt: skip
    assert _mean_difference(_open(slider[0]), _open(png)) < 3
    with pytest.raises(AppError, match=r"got 3 for 1 image") as err:
        client.predict(handle_file(str(photo)), handle_file(str(photo)), 1.0, False, 64, None, "1, 2, 3",
                       api_name="/stylize_arbitrary")  # fmt: skip
    assert "Traceback" not in str(err.value)


def test_download_is_named_for_the_picture_it_serves(tmp_path):
    from demo.photo_tabs import download_button

    Image.new("RGB", (979, 734)).save(tmp_path / "result.png")
    button = download_button(str(tmp_path / "result.png"))
    assert button.label == "Download PNG (979x734)" and button.interactive is True
    assert download_button(None).interactive is False
