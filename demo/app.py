"""The web page: upload a photo, pick a style, compare before/after with a slider, download the PNG.

Stable API (gradio_client, and MCP tools where the installed gradio has the `mcp` extra):

- ``/stylize`` (image, style, strength, preserve_colors, size) -> ((original, stylised), png_file)
  Fast feed-forward styles from the registry; `style` is a registry name (see ``python -m nst_core styles``).
- ``/stylize_region`` (image, style, strength, preserve_colors, size, mask, invert_mask) -> the same as ``/stylize``,
  with the style only where the mask picture is white (or opaque); ``invert_mask``: everywhere else.
- ``/stylize_arbitrary`` (content, style_image, strength, preserve_colors, size, extra_styles, blend_weights)
  -> ((original, stylised), png_file). Instant: any painting in one pass of the bundled network (about a second).
- ``/stylize_gatys`` (content, style_image, loss_net, size, steps, content_weight, style_weight, tv_weight,
  optimizer, preserve_colors, seed, extra_styles, blend_weights) -> ((original, stylised), png_file)
  Optimisation with any style image; streams intermediate results (``Client.submit`` yields them).
- ``/stylize_image``, ``/stylize_with_painting_instant`` and ``/stylize_with_painting``: the same three jobs with
  one picture out; these are the MCP tools (demo/mcp_tools.py says why).

Only what loads here is offered (demo/availability.py, asked once at start-up).

Queue layout (why): Gatys holds a loss network plus activations for minutes, so it gets its own queue of
`gatys_concurrency` (1) slots; fast requests are small and short, so they run `fast_concurrency` at a time
in a separate queue and never wait behind an optimisation. `max_queue` bounds waiting visitors and sizes
are capped, so peak memory is bounded by (fast slots x fast size) + (Gatys slots x Gatys size).
All knobs: demo/config.py.
"""

from __future__ import annotations

import argparse
import importlib.util
import inspect
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import gradio as gr

from nst_core.envvars import env_number
from nst_core.errors import NSTError
from nst_core.styles import default_style

from .availability import check_availability
from .config import DemoConfig, load_config
from .handlers import LOSS_NET_CHOICES, Stylist
from .painting_tab import painting_tab
from .photo_tabs import Output, content_input, fast_tab, wire_photo_tabs
from .region import region_input
from .video_tabs import video_and_webcam
from .visit import visit_panel

log = logging.getLogger("nst.demo")

CSS = """
.gradio-container { max-width: 1280px !important; margin: 0 auto !important; }
#intro p { margin: 0.2em 0; }
#style-gallery .fixed-height { min-height: 0 !important; }  /* size to the thumbnails, scroll past 55vh */
#style-gallery .caption-label, #style-grid .caption-label, #history .caption-label {
  font-size: 0.75em; white-space: normal; overflow: visible; text-overflow: clip;
  max-width: calc(100% - 8px); line-height: 1.15; text-align: center; }  /* whole names, wrapped, not "Comp..." */
/* The examples table sized itself to its long column titles (549 px on a 390 px phone): fit and wrap instead. */
#photo-examples table, #painting-examples table { table-layout: fixed; width: 100%; }
#photo-examples th, #photo-examples td, #painting-examples th, #painting-examples td { white-space: normal;
  overflow-wrap: anywhere; }
/* Gradio lays the gallery out in fixed 100 px columns, which made a 390 px phone page 504 px wide: let the
   columns share the width instead (6 on a desktop, so Stylize stays above the fold at 1280x900; 4 on a phone). */
#style-gallery .grid-container { grid-template-columns: repeat(auto-fill, minmax(min(76px, 22%), 1fr)) !important; }
/* At 76 px a tile clipped "Composition VII" to "Compositi" on a 390 px phone: 3 columns there, whole words. */
@media (max-width: 480px) {
  #style-gallery .grid-container { grid-template-columns: repeat(3, minmax(0, 1fr)) !important; } }
/* The every-style grid and this visit's pictures: small tiles that share the width, whatever their number. */
#style-grid .grid-container, #history .grid-container {
  grid-template-columns: repeat(auto-fill, minmax(min(96px, 30%), 1fr)) !important; }
"""

INTRO = """
# Neural style transfer
Turn a photo into a painting: **1.** add a photo · **2.** pick a style · **3.** press **Stylize**.
*Fast styles* answer in about a second. *Your own style image* paints with any picture you give it:
*Instant* in about a second, *Best quality* in minutes, showing its progress as it goes.
"""


def _mcp_supported() -> bool:
    """`mcp_server=True` needs gradio's `mcp` extra; without it gradio raises at launch, so ask first."""
    return "mcp_server" in inspect.signature(gr.Blocks.launch).parameters and (
        importlib.util.find_spec("mcp") is not None
    )


def config_or_exit() -> DemoConfig:
    """The settings; a mistyped one ends the start with one clear line (python -m demo and the Space alike)."""
    try:
        return load_config()
    except NSTError as exc:
        raise SystemExit(f"error: {exc}") from None


def build_app(config: DemoConfig | None = None) -> gr.Blocks:
    """Lay out the page: the photo and its two tabs on the left, the result on the right, video and webcam below.
    Each tab is built and wired in its own module (demo/photo_tabs.py, demo/video_tabs.py); no stylisation here."""
    config = config or config_or_exit()
    available = check_availability(LOSS_NET_CHOICES, download=config.fetch_loss_nets)  # only what loads is offered
    stylist = Stylist(config, available=available)
    infos = stylist.styles()
    with gr.Blocks(title="Neural style transfer", delete_cache=(1800, config.file_ttl)) as demo:
        gr.Markdown(INTRO, elem_id="intro")
        out = Output.create()
        with gr.Row(equal_height=False):
            with gr.Column(scale=5):
                content = content_input()
                region = region_input()
                with gr.Tabs(elem_id="method"):
                    with gr.Tab("Fast styles", id="fast"):
                        fast = fast_tab(stylist, config, infos, content, out)
                    with gr.Tab("Your own style image", id="gatys"):
                        painting = painting_tab(stylist, config)
            with gr.Column(scale=6):
                out.result.render()
                out.status.render()
                out.download.render()
                visit = visit_panel()
                gr.Markdown(
                    f"Running on **{config.device.upper()}**. Fast styles up to {config.max_size} px; "
                    "your photo is only used to make your picture.",
                    elem_id="device-note",
                )
        video_and_webcam(demo, config, stylist, infos, default.name if (default := default_style(infos)) else None)
        wire_photo_tabs(demo, stylist, config, content, fast, painting, out, region, visit)
    demo.queue(max_size=config.max_queue, default_concurrency_limit=config.fast_concurrency)
    return demo


def launch_kwargs(config: DemoConfig) -> dict[str, Any]:
    """What `Blocks.launch` needs besides host/port; shared by `launch` and anything embedding the app."""
    kwargs: dict[str, Any] = {
        "show_error": True,
        "max_file_size": config.max_file_size,
        "theme": gr.themes.Soft(primary_hue="indigo"),
        "css": CSS,
        "js": (Path(__file__).parent / "slider_keys.js").read_text(encoding="utf-8"),  # keyboard for the handle
    }
    if _mcp_supported():
        kwargs["mcp_server"] = True
    return kwargs


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m demo", description="Neural style transfer web demo.")
    parser.add_argument(
        "--host",
        default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
        help="address to listen on (default 127.0.0.1 or $GRADIO_SERVER_NAME; 0.0.0.0 = whole network)",
    )
    parser.add_argument(
        "--port",
        type=int,
        default=int(env_number("GRADIO_SERVER_PORT", 7860, lo=1, hi=65535)),
        help="port (default $GRADIO_SERVER_PORT or 7860)",
    )
    parser.add_argument("--share", action="store_true", help="also open a temporary public gradio.live link")
    return parser.parse_args(argv)


def launch(argv: Sequence[str] | None = None, app: gr.Blocks | None = None) -> None:
    """Entry point of `python -m demo` and of the Space's app.py."""
    try:  # a mistyped port ends the start with one clear line, not a traceback
        args = parse_args(argv)
    except NSTError as exc:
        raise SystemExit(f"error: {exc}") from None
    config = config_or_exit()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    demo = app or build_app(config)
    kwargs = launch_kwargs(config)
    if "mcp_server" not in kwargs:
        log.info("MCP server off: install gradio[mcp] to expose the stylisation as an MCP tool")
    demo.launch(server_name=args.host, server_port=args.port, share=args.share, **kwargs)
