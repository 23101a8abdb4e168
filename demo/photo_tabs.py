"""The photo tabs: *Fast styles* (built here) and *Your own style image* (demo/painting_tab.py), the output they
share, and their events.

Each tab is built by one function that returns its components, and wired by another; `demo.app.build_app` lays
out the page around them. No stylisation here: events call `Stylist` (demo/handlers.py).
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr
from PIL import Image

from nst_core.styles import default_style

from .config import DemoConfig
from .examples import credit, photo_examples
from .handlers import Stylist
from .mcp_tools import ImageTools, hide_from_mcp
from .painting_tab import PaintingTab, wire_painting_tab
from .region import RegionInput, wire_region
from .visit import VisitPanel, wire_history
from .widgets import photo_input, quiet_errors, strength_slider

# Pressing Stylize brings the result (where progress and the picture appear) into view: on a phone it sits below
# the controls, and its top goes to the top of the screen so that Download, right under the picture, is on screen
# too. "nearest" leaves a desktop page still when the result is already on screen.
SCROLL_TO_RESULT = (
    "() => document.getElementById('result-slider')?.scrollIntoView("
    "{block: innerWidth < 700 ? 'start' : 'nearest', behavior: 'smooth'})"
)


@dataclass
class Output:
    """The right-hand column: the before/after slider and the download, shared by both tabs and the examples."""

    result: gr.ImageSlider
    download: gr.DownloadButton
    status: gr.Markdown  # words about the job that do not fit a progress bar (a wait for a turn: demo/waiting.py)

    @classmethod
    def create(cls) -> Output:
        """Made before the tabs (the photo examples write into them), rendered later in the right column."""
        result = gr.ImageSlider(
            label="Before / after",  # short: a longer label ran under the slider's icons on a phone
            type="pil",
            format="png",
            height=None,  # the picture's own shape: a fixed height left blank bands around a landscape picture
            max_height=720,
            elem_id="result-slider",
            render=False,
        )
        download = gr.DownloadButton(DOWNLOAD_LABEL, interactive=False, elem_id="download", render=False)
        return cls(result, download, gr.Markdown("", elem_id="job-status", render=False))

    @property
    def both(self) -> list[Any]:
        return [self.result, self.download]


@dataclass
class FastTab:
    style: gr.Dropdown
    gallery: gr.Gallery
    names: gr.State
    strength: gr.Slider
    size: gr.Slider
    colors: gr.Checkbox
    button: gr.Button
    examples: gr.Examples | None
    try_all: gr.Button  # "Try every style on my photo" (demo/visit.py)


DOWNLOAD_LABEL = "Download PNG"


def download_button(path: str | None) -> gr.DownloadButton:
    """Download named for what it serves: 'Download PNG (979x734)', the size of this result (a stopped run's
    picture is smaller than a finished one's)."""
    if not path:
        return gr.DownloadButton(DOWNLOAD_LABEL, interactive=False)
    try:
        with Image.open(path) as im:
            return gr.DownloadButton(f"{DOWNLOAD_LABEL} ({im.width}x{im.height})", interactive=True)
    except OSError:
        return gr.DownloadButton(DOWNLOAD_LABEL, interactive=bool(path))


def content_input() -> gr.Image:
    return photo_input(
        label="1. Your photo",
        type="filepath",
        image_mode=None,
        sources=["upload", "webcam", "clipboard"],
        height=240,
        elem_id="content-image",
    )


def fast_tab(stylist: Stylist, config: DemoConfig, infos: list[Any], content: gr.Image, out: Output) -> FastTab:
    names = [i.name for i in infos]
    if not names:
        gr.Markdown(
            "No fast styles are installed yet. Use **Your own style image**, or train one with "
            "`python -m nst_core.train`."
        )
    style = gr.Dropdown(
        choices=[(i.label, i.name) for i in infos],
        value=default.name if (default := default_style(infos)) else None,
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
        strength = strength_slider(scale=3)
        button = gr.Button("3. Stylize", variant="primary", elem_id="fast-run", scale=2)
    try_all = gr.Button("Try every style on my photo", size="sm", elem_id="try-all")
    with gr.Accordion("More options", open=False):
        size = gr.Slider(
            config.min_size, config.max_size, value=config.fast_size, step=32, label="Output size (long side, px)"
        )
        colors = gr.Checkbox(value=False, label="Keep the photo's colours")
    examples = photo_examples_block(stylist, config, names, [content, style], out.both)
    return FastTab(style, gallery, gr.State(names), strength, size, colors, button, examples, try_all)


def _examples_dir(config: DemoConfig) -> Path | None:
    return Path(config.examples_dir) if config.examples_dir else None


def example_rows(stylist: Stylist, config: DemoConfig, styles: list[str]) -> list[list[str]]:
    """[photo, style] rows, the best-scoring style with the first photo."""
    best = default.name if (default := default_style(stylist.styles())) else None
    ordered = sorted(styles, key=lambda name: name != best)
    return photo_examples(_examples_dir(config), stylist.out_dir, ordered)


def photo_examples_block(
    stylist: Stylist, config: DemoConfig, styles: list[str], inputs: list[Any], outputs: list[Any]
) -> gr.Examples | None:
    """Photo examples that paint themselves when clicked, cached lazily for this server's lifetime (a cache kept
    across restarts would show pictures from styles since retrained)."""
    rows = example_rows(stylist, config, styles)
    if not rows:
        return None
    os.environ.setdefault("GRADIO_EXAMPLES_CACHE", tempfile.mkdtemp(prefix="nst-demo-examples-"))
    examples = gr.Examples(
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
    if credits := [c for row in rows if (c := credit(Path(row[0])))]:
        gr.Markdown("<small>Example photos: " + "; ".join(credits) + ".</small>", elem_id="photo-credits")
    return examples


# -- events ------------------------------------------------------------------------------------------------------
PRIVATE = {"api_visibility": "private", "queue": False}


def wire_photo_tabs(
    demo: gr.Blocks,
    stylist: Stylist,
    config: DemoConfig,
    content: gr.Image,
    fast: FastTab,
    painting: PaintingTab,
    out: Output,
    region: RegionInput,
    visit: VisitPanel,
) -> None:
    """The Stylize buttons (the stable API), Download's on/off, the painting tab's events, style pickers, MCP, the
    every-style grid and this visit's pictures."""
    fast_inputs = [content, fast.style, fast.strength, fast.colors, fast.size]
    quiet_errors(fast.strength, fast.size, fast.style)
    # Page-only events: results come back as plain paths (clean API) and the page enables Download itself when
    # there is a file; it is off while a job is queued or running, so it never serves the previous picture.
    page_only = {"outputs": [out.download], **PRIVATE}
    enable = {"fn": download_button, "inputs": [out.download], **page_only}
    disable = {"fn": lambda: gr.DownloadButton(DOWNLOAD_LABEL, interactive=False), "inputs": None, **page_only}
    for button in (fast.button, painting.gatys.button, painting.instant.button):
        button.click(**disable)
        button.click(None, None, None, js=SCROLL_TO_RESULT, **PRIVATE)
    fast_queue = {"concurrency_limit": config.fast_concurrency, "concurrency_id": "fast"}
    # The page's button sends the region too; the API keeps /stylize as it was and adds /stylize_region.
    fast_job = fast.button.click(
        stylist.stylize_page, [*fast_inputs, *region.inputs], out.both, api_visibility="private", **fast_queue
    )
    fast_job.success(**enable)
    wire_region(content, region)
    with gr.Row(visible=False):
        fast_api, region_api = gr.Button(), gr.Button()
        mask = photo_input(type="filepath", image_mode=None, label="Mask")  # its mode kept: alpha, grey levels
        invert = gr.Checkbox(value=False, label="Style everything but the mask")
    fast_api.click(hide_from_mcp(stylist.stylize), fast_inputs, out.both, api_name="stylize", **fast_queue)
    region_api.click(hide_from_mcp(stylist.stylize_region), [*fast_inputs, mask, invert], out.both,
                     api_name="stylize_region", **fast_queue)  # fmt: skip
    instant_job, gatys_job = wire_painting_tab(stylist, config, content, painting, out.both, region, out.status)
    for event in (instant_job, gatys_job):
        event.success(**enable)
    fast_jobs = [fast_job]
    if fast.examples is not None:  # an example's picture is downloadable too, once it is there
        fast.examples.dataset.click(**disable)
        fast.examples.cache_event.success(**enable)
        fast_jobs.append(fast.examples.cache_event)
    labels = {i.name: i.display_name or i.name for i in stylist.styles()}
    wire_history(visit, out.download, (fast_jobs, fast.style, labels),
                 {"Your painting (Instant)": instant_job, "Your painting (Best quality)": gatys_job})  # fmt: skip
    fast.try_all.click(lambda: gr.Gallery(value=[], visible=True), None, [visit.grid], **PRIVATE)  # its bar shows
    fast.try_all.click(stylist.try_every_style, [content], [visit.grid, visit.grid_names], api_visibility="private",
                       show_progress_on=[visit.grid], **fast_queue)  # fmt: skip
    visit.grid.select(stylist.on_style_selected, [visit.grid_names], [fast.style], **PRIVATE)
    g = painting.gatys
    gatys_inputs = [content, g.style_image, g.loss_net, g.size, g.steps, g.seed]
    instant_inputs = [content, g.style_image, painting.instant.strength, g.colors, painting.instant.size]
    add_mcp_tools(ImageTools(stylist), config, fast_inputs, gatys_inputs, instant_inputs)
    fast.gallery.select(stylist.on_style_selected, [fast.names], [fast.style], **PRIVATE)
    # .change, not .input: an example sets the style too. No loop: a gallery update does not fire its .select.
    fast.style.change(stylist.on_style_picked, [fast.names, fast.style], [fast.gallery], **PRIVATE)
    demo.load(stylist.refresh_styles, [fast.style], [fast.gallery, fast.style, fast.names], **PRIVATE)
    if config.first_impression and (rows := example_rows(stylist, config, list(fast.names.value or []))):
        demo.load(lambda: stylist.first_impression(rows), None, [out.result], **PRIVATE)  # a finished example


def add_mcp_tools(
    tools: ImageTools, config: DemoConfig, fast_inputs: list[Any], gatys_inputs: list[Any], instant_inputs: list[Any]
) -> None:
    """API endpoints with one picture out, for MCP clients (see demo/mcp_tools.py); invisible on the page."""
    with gr.Row(visible=False):
        fast_btn, gatys_btn, instant_btn = gr.Button(), gr.Button(), gr.Button()
        picture = gr.Image(type="filepath", format="png", label="Stylised image")
    fast_btn.click(
        tools.stylize_image,
        fast_inputs,
        [picture],
        api_name="stylize_image",
        concurrency_limit=config.fast_concurrency,
        concurrency_id="fast",
    )
    instant_btn.click(
        tools.stylize_with_painting_instant,
        instant_inputs,
        [picture],
        api_name="stylize_with_painting_instant",
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
