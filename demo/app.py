"""The web page: upload a photo, pick a style, compare before/after with a slider, download the PNG.

Stable API (gradio_client, and MCP tools where the installed gradio has the `mcp` extra):

- ``/stylize`` (image, style, strength, preserve_colors, size) -> ((original, stylised), png_file)
  Fast feed-forward styles from the registry; `style` is a registry name (see ``python -m nst_core styles``).
- ``/stylize_gatys`` (content, style_image, loss_net, size, steps, content_weight, style_weight, tv_weight,
  optimizer, preserve_colors, seed, extra_styles, blend_weights) -> ((original, stylised), png_file)
  Optimisation with any style image; streams intermediate results (``Client.submit`` yields them).
- ``/stylize_image`` and ``/stylize_with_painting``: the same two jobs with one picture out; these two are the MCP
  tools (demo/mcp_tools.py says why).

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
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import gradio as gr
from PIL import Image, UnidentifiedImageError

from nst_core.envvars import env_number
from nst_core.errors import NSTError
from nst_core.styles import default_style

from .config import DemoConfig, load_config
from .examples import painting_examples, photo_examples
from .handlers import LOSS_NET_CHOICES, OPTIMIZER_CHOICES, Stylist
from .mcp_tools import ImageTools, hide_from_mcp
from .video_tabs import video_and_webcam

log = logging.getLogger("nst.demo")

CSS = """
.gradio-container { max-width: 1280px !important; margin: 0 auto !important; }
#intro p { margin: 0.2em 0; }
#style-gallery .fixed-height { min-height: 0 !important; }  /* size to the thumbnails, scroll past 55vh */
#style-gallery .caption-label { font-size: 0.75em; white-space: normal; overflow: visible; text-overflow: clip;
  max-width: calc(100% - 8px); line-height: 1.15; text-align: center; }  /* whole names, wrapped, not "Comp..." */
/* Gradio lays the gallery out in fixed 100 px columns, which made a 390 px phone page 504 px wide: let the
   columns share the width instead (6 on a desktop, so Stylize stays above the fold at 1280x900; 4 on a phone). */
/* The examples table sized itself to its long column titles (549 px on a 390 px phone): fit and wrap instead. */
#photo-examples table, #painting-examples table { table-layout: fixed; width: 100%; }
#photo-examples th, #photo-examples td, #painting-examples th, #painting-examples td { white-space: normal;
  overflow-wrap: anywhere; }
#style-gallery .grid-container { grid-template-columns: repeat(auto-fill, minmax(min(76px, 22%), 1fr)) !important; }
"""

INTRO = """
# Neural style transfer
Turn a photo into a painting: **1.** add a photo · **2.** pick a style · **3.** press **Stylize**.
*Fast styles* answer in about a second. *Your own style image* paints with any picture you give it;
it takes longer and shows its progress as it goes.
"""


# Pressing Stylize brings the result (where progress and the picture appear) into view: on a phone it sits below
# the controls. "nearest" leaves a desktop page still when the result is already on screen.
SCROLL_TO_RESULT = (
    "() => document.getElementById('result-slider')?.scrollIntoView({block: 'nearest', behavior: 'smooth'})"
)


def photo_input(**kwargs: Any) -> gr.Image:
    """`gr.Image` whose upload errors read as advice ("that is not an image") instead of a PIL message.

    Wrapping the instance (not subclassing) on purpose: a gr.Image subclass makes gradio write a .pyi stub
    next to this file at import time, which fails on a read-only install.
    """
    image = gr.Image(**kwargs)
    decode = image.preprocess

    def preprocess(payload: Any) -> Any:
        try:
            return decode(payload)
        except gr.Error:
            raise
        except Image.DecompressionBombError:
            raise gr.Error("That image is too large. Please use a smaller picture.", print_exception=False) from None
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
            raise gr.Error(
                "That file is not an image we can read. Please use a JPEG, PNG or WebP picture.",
                print_exception=False,
            ) from None

    image.preprocess = preprocess  # type: ignore[method-assign]
    return image


def quiet_errors(*components: Any) -> None:
    """Gradio's own input checks (a size beyond the slider's range, an unknown radio choice) raise gr.Error with
    a logged traceback; they are the sender's mistakes: the same message goes back, the log keeps one line."""
    for component in components:
        check = component.preprocess

        def preprocess(payload: Any, _check: Any = check, _name: str = component.label or "input") -> Any:
            try:
                return _check(payload)
            except gr.Error as exc:
                if not exc.print_exception:
                    raise
                log.info("refused %s: %s", _name, exc.message)
                raise gr.Error(exc.message, print_exception=False) from None

        component.preprocess = preprocess


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


def _examples_dir(config: DemoConfig) -> Path | None:
    return Path(config.examples_dir) if config.examples_dir else None


def add_photo_examples(
    stylist: Stylist, config: DemoConfig, styles: list[str], inputs: list[Any], outputs: list[Any]
) -> gr.Examples | None:
    """Photo examples that paint themselves when clicked, cached lazily for this server's lifetime (a cache kept
    across restarts would show pictures from styles since retrained)."""
    best = default.name if (default := default_style(stylist.styles())) else None
    ordered = sorted(styles, key=lambda name: name != best)  # the best-scoring style with the first example
    rows = photo_examples(_examples_dir(config), stylist.out_dir, ordered)
    if not rows:
        return None
    os.environ.setdefault("GRADIO_EXAMPLES_CACHE", tempfile.mkdtemp(prefix="nst-demo-examples-"))
    return gr.Examples(
        rows,
        inputs,
        outputs,
        fn=stylist.stylize_example,
        cache_examples=True,
        cache_mode="lazy",
        examples_per_page=6,
        label="Or click an example",
        elem_id="photo-examples",
        api_visibility="private",
    )


def add_mcp_tools(tools: ImageTools, config: DemoConfig, fast_inputs: list[Any], gatys_inputs: list[Any]) -> None:
    """API endpoints with one picture out, for MCP clients (see demo/mcp_tools.py); invisible on the page."""
    with gr.Row(visible=False):
        fast_btn, gatys_btn = gr.Button(), gr.Button()
        picture = gr.Image(type="filepath", format="png", label="Stylised image")
    fast_btn.click(
        tools.stylize_image,
        fast_inputs,
        [picture],
        api_name="stylize_image",
        concurrency_limit=config.fast_concurrency,
        concurrency_id="fast",
    )
    gatys_btn.click(
        tools.stylize_with_painting,
        gatys_inputs,
        [picture],
        api_name="stylize_with_painting",
        concurrency_limit=config.gatys_concurrency,
        concurrency_id="gatys",
        time_limit=config.gatys_time_limit,
    )


def build_app(config: DemoConfig | None = None) -> gr.Blocks:
    """Lay out the page and wire it to `Stylist`; no stylisation logic here."""
    config = config or config_or_exit()
    stylist = Stylist(config)
    infos = stylist.styles()
    names = [i.name for i in infos]
    first = default.name if (default := default_style(infos)) else None
    gatys_defaults = stylist.gatys_defaults(config.gatys_loss_net)

    with gr.Blocks(title="Neural style transfer", delete_cache=(1800, config.file_ttl)) as demo:
        gr.Markdown(INTRO, elem_id="intro")
        # Made here, shown in the right-hand column: the photo examples on the left write into them.
        result = gr.ImageSlider(
            label="Before / after (drag the handle)",
            type="pil",
            format="png",
            height=560,
            max_height=720,
            elem_id="result-slider",
            render=False,
        )
        download = gr.DownloadButton(
            "Download full-resolution PNG", interactive=False, elem_id="download", render=False
        )
        style_names = gr.State(names)
        with gr.Row(equal_height=False):
            with gr.Column(scale=5):
                content = photo_input(
                    label="1. Your photo",
                    type="filepath",
                    image_mode=None,
                    sources=["upload", "webcam", "clipboard"],
                    height=240,
                    elem_id="content-image",
                )
                with gr.Tabs(elem_id="method"):
                    with gr.Tab("Fast styles", id="fast"):
                        if not names:
                            gr.Markdown(
                                "No fast styles are installed yet. Use **Your own style image**, or train "
                                "one with `python -m nst_core.train`."
                            )
                        style = gr.Dropdown(
                            choices=[(i.label, i.name) for i in infos],
                            value=first,
                            label="2. Pick a style (click a picture or choose here)",
                            allow_custom_value=True,  # the core answers unknown names with the list of styles
                            elem_id="style-name",
                        )
                        gallery = gr.Gallery(
                            value=stylist.gallery_items(infos),
                            show_label=False,
                            columns=4,
                            height=None,
                            allow_preview=False,
                            object_fit="cover",
                            fit_columns=False,
                            buttons=[],  # a "download all" icon sat on a thumbnail; nothing to download here
                            interactive=False,
                            selected_index=0 if names else None,
                            elem_id="style-gallery",
                        )
                        with gr.Row(equal_height=True):
                            strength = gr.Slider(0.0, 1.0, value=1.0, step=0.05, label="Strength", scale=3)
                            fast_btn = gr.Button("3. Stylize", variant="primary", elem_id="fast-run", scale=2)
                        with gr.Accordion("More options", open=False):
                            fast_size = gr.Slider(
                                config.min_size,
                                config.max_size,
                                value=config.fast_size,
                                step=32,
                                label="Output size (long side, px)",
                            )
                            fast_colors = gr.Checkbox(value=False, label="Keep the photo's colours")
                        examples = add_photo_examples(stylist, config, names, [content, style], [result, download])
                    with gr.Tab("Your own style image", id="gatys"):
                        style_image = photo_input(
                            label="2. Style image (a painting)",
                            type="filepath",
                            image_mode=None,
                            sources=["upload", "clipboard"],
                            height=180,
                            elem_id="style-image",
                        )
                        if rows := painting_examples(_examples_dir(config)):
                            gr.Examples(rows, [style_image], label="Or click a painting", elem_id="painting-examples")
                        loss_net = gr.Radio(
                            LOSS_NET_CHOICES,
                            value=config.gatys_loss_net,
                            label="Quality",
                            info="Fast preview suits a CPU; full quality wants a GPU.",
                        )
                        steps = gr.Slider(
                            1, config.gatys_max_steps, value=gatys_defaults["steps"], step=1, label="Steps"
                        )
                        with gr.Row():
                            gatys_btn = gr.Button("3. Stylize", variant="primary", elem_id="gatys-run", scale=3)
                            stop_btn = gr.Button("Stop", variant="stop", elem_id="gatys-stop", scale=1)
                        with gr.Accordion("Advanced", open=False):
                            with gr.Row():
                                gatys_size = gr.Slider(
                                    config.min_size,
                                    config.max_size,
                                    value=gatys_defaults["size"],
                                    step=32,
                                    label="Output size (long side, px)",
                                )
                                optimizer = gr.Radio(OPTIMIZER_CHOICES, value="lbfgs", label="Optimizer")
                            with gr.Row():
                                content_weight = gr.Number(
                                    label="Content weight",
                                    value=gatys_defaults.get("content_weight"),
                                    minimum=0,
                                )
                                style_weight = gr.Number(
                                    label="Style weight", value=gatys_defaults.get("style_weight"), minimum=0
                                )
                                tv_weight = gr.Number(
                                    label="Smoothness (TV) weight",
                                    value=gatys_defaults.get("tv_weight"),
                                    minimum=0,
                                )
                            gr.Markdown("Empty weight = the recommended value for the chosen quality.")
                            with gr.Row():
                                gatys_colors = gr.Checkbox(value=False, label="Keep the photo's colours")
                                seed = gr.Number(label="Seed", value=0, precision=0)
                            extra_styles = gr.File(
                                label="More style images to blend (optional)",
                                file_count="multiple",
                                file_types=["image"],
                                type="filepath",
                            )
                            blend = gr.Textbox(
                                value="",  # an initial value makes the API parameter optional
                                label="Blend weights",
                                placeholder="one number per style image, e.g. 0.7, 0.3 (empty = equal)",
                            )
            with gr.Column(scale=6):
                result.render()
                download.render()
                gr.Markdown(
                    f"Running on **{config.device.upper()}**. Fast styles up to {config.max_size} px; "
                    "your photo is only used to make your picture.",
                    elem_id="device-note",
                )

        video_and_webcam(demo, config, stylist, infos, first)  # demo/video_tabs.py

        fast_inputs = [content, style, strength, fast_colors, fast_size]
        quiet_errors(strength, fast_size, steps, gatys_size, loss_net, optimizer, content_weight, style_weight,
                     tv_weight, seed, style)  # fmt: skip

        # Page-only events: results come back as plain paths (clean API) and the page enables Download itself when
        # there is a file; it is off while a job is queued or running, so it never serves the previous picture.
        page_only = {"outputs": [download], "api_visibility": "private", "queue": False}
        enable_download = {"fn": lambda f: gr.DownloadButton(interactive=bool(f)), "inputs": [download], **page_only}
        disable_download = {"fn": lambda: gr.DownloadButton(interactive=False), "inputs": None, **page_only}
        for button in (fast_btn, gatys_btn):
            button.click(**disable_download)
            button.click(None, None, None, js=SCROLL_TO_RESULT, api_visibility="private", queue=False)
        gatys_btn.click(stylist.arm_stop, None, None, api_visibility="private", queue=False)
        fast_btn.click(
            hide_from_mcp(stylist.stylize),
            fast_inputs,
            [result, download],
            api_name="stylize",
            concurrency_limit=config.fast_concurrency,
            concurrency_id="fast",
        ).success(**enable_download)
        gatys_event = gatys_btn.click(
            hide_from_mcp(stylist.stylize_gatys),
            [
                content,
                style_image,
                loss_net,
                gatys_size,
                steps,
                content_weight,
                style_weight,
                tv_weight,
                optimizer,
                gatys_colors,
                seed,
                extra_styles,
                blend,
            ],
            [result, download],
            api_name="stylize_gatys",
            concurrency_limit=config.gatys_concurrency,
            concurrency_id="gatys",
            time_limit=config.gatys_time_limit,
            # The bar covers the style image (not needed while painting, and next to Stop), so the slider
            # stays clear for the intermediate images.
            show_progress_on=[style_image],
        )
        gatys_event.success(**enable_download)
        if examples is not None:  # an example's picture is downloadable too, once it is there
            examples.dataset.click(**disable_download)
            examples.cache_event.success(**enable_download)
        quality_form = [gatys_size, steps, content_weight, style_weight, tv_weight]  # handlers.GATYS_FORM_FIELDS
        loss_net.change(
            stylist.on_loss_net_change,
            [loss_net, *quality_form],
            quality_form,
            api_visibility="private",
            queue=False,
        )
        stop_btn.click(stylist.stop, None, None, api_visibility="private", queue=False)  # see Stylist.stop
        add_mcp_tools(
            ImageTools(stylist), config, fast_inputs, [content, style_image, loss_net, gatys_size, steps, seed]
        )

        gallery.select(stylist.on_style_selected, [style_names], [style], api_visibility="private", queue=False)
        # .change, not .input: an example sets the style too. No loop: a gallery update does not fire its .select.
        style.change(stylist.on_style_picked, [style_names, style], [gallery], api_visibility="private", queue=False)
        demo.load(
            stylist.refresh_styles,
            [style],
            [gallery, style, style_names],
            api_visibility="private",
            queue=False,
        )

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
