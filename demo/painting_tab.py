"""The *Your own style image* tab: any painting, by the Instant method (one pass, about a second) or by Best
quality (Gatys optimisation, minutes); its layout, then its events.

Only what loads here is offered (demo/availability.py): a method or quality level whose network is missing is
left out, and the line under the choice says why. Each method's controls show only while it is chosen; the
paintings, their blend weights and "keep the photo's colours" serve both. Ranges and defaults come from the core's
option metadata. No stylisation here: events call `Stylist` (demo/handlers.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

from nst_core.arbitrary import ArbitraryOptions
from nst_core.gatys import GatysOptions
from nst_core.options import field_default, field_range

from .availability import BEST, INSTANT, METHOD_CHOICES, method_note, quality_note
from .config import DemoConfig
from .examples import credit, painting_examples
from .handlers import LOSS_NET_CHOICES, OPTIMIZER_CHOICES, Stylist
from .mcp_tools import hide_from_mcp
from .region import RegionInput
from .waiting import WaitingNotice, join_on_click, wire_waiting
from .widgets import photo_input, quiet_errors

PRIVATE = {"api_visibility": "private", "queue": False}


@dataclass
class GatysTab:
    """Best quality's controls, and the ones both methods share (painting, Stop, colours, blend)."""

    style_image: gr.Image
    loss_net: gr.Radio
    steps: gr.Slider
    button: gr.Button
    stop: gr.Button
    size: gr.Slider
    optimizer: gr.Radio
    content_weight: gr.Number
    style_weight: gr.Number
    tv_weight: gr.Number
    colors: gr.Checkbox
    seed: gr.Number
    extra_styles: gr.File
    blend: gr.Textbox

    @property
    def quality_form(self) -> list[Any]:
        """The fields that follow the quality choice, in the order of handlers.GATYS_FORM_FIELDS."""
        return [self.size, self.steps, self.content_weight, self.style_weight, self.tv_weight]


@dataclass
class InstantForm:
    strength: gr.Slider
    size: gr.Slider
    button: gr.Button


@dataclass
class PaintingTab:
    method: gr.Radio
    instant: InstantForm
    gatys: GatysTab
    shown: dict[str, list[Any]]  # method -> the components visible only while it is chosen

    def instant_inputs(self, content: gr.Image) -> list[Any]:
        g = self.gatys
        return [content, g.style_image, self.instant.strength, g.colors, self.instant.size, g.extra_styles, g.blend]

    def gatys_inputs(self, content: gr.Image) -> list[Any]:
        g = self.gatys
        return [content, g.style_image, g.loss_net, g.size, g.steps, g.content_weight, g.style_weight, g.tv_weight,
                g.optimizer, g.colors, g.seed, g.extra_styles, g.blend]  # fmt: skip


def painting_tab(stylist: Stylist, config: DemoConfig) -> PaintingTab:
    """Lay the tab out: painting, method, the chosen method's controls, Stylize / Stop, then More options."""
    available = stylist.available
    method = available.default_method()
    style_image = photo_input(label="2. Style image (a painting)", type="filepath", image_mode=None,
                              sources=["upload", "clipboard"], height=180, elem_id="style-image")  # fmt: skip
    if rows := painting_examples(Path(config.examples_dir) if config.examples_dir else None):
        gr.Examples(rows, [style_image], label="Or click a painting", elem_id="painting-examples")
        if credits := [c for row in rows if (c := credit(Path(row[0])))]:
            gr.Markdown("<small>Example paintings (public domain): " + "; ".join(credits) + ".</small>",
                        elem_id="painting-credits")  # fmt: skip
    choice = gr.Radio(METHOD_CHOICES, value=method, label="Method", info=method_note(available),
                      interactive=len(available.methods()) > 1, elem_id="painting-method")  # fmt: skip
    lo, hi = field_range(ArbitraryOptions, "strength")
    with gr.Column(visible=method == INSTANT) as instant_box:
        strength = gr.Slider(lo, hi, value=field_default(ArbitraryOptions, "strength"), step=0.05, label="Strength")
    loss_net_value = available.default_loss_net(config.gatys_loss_net)
    defaults = stylist.gatys_defaults(loss_net_value)
    with gr.Column(visible=method == BEST) as gatys_box:
        loss_net = gr.Radio([c for c in LOSS_NET_CHOICES if c[1] in available.loss_nets] or LOSS_NET_CHOICES,
                            value=loss_net_value, label="Quality", info=quality_note(available, LOSS_NET_CHOICES),
                            elem_id="painting-quality")  # fmt: skip
        least = field_range(GatysOptions, "steps")[0]  # the most: the server's, within the core's
        steps = gr.Slider(least, config.gatys_max_steps, value=defaults["steps"], step=1, label="Steps")
    with gr.Row():
        instant_run = gr.Button("3. Stylize", variant="primary", elem_id="instant-run", scale=3,
                                visible=method == INSTANT)  # fmt: skip
        gatys_run = gr.Button("3. Stylize", variant="primary", elem_id="gatys-run", scale=3, visible=method == BEST)
        stop = gr.Button("Stop", variant="stop", elem_id="gatys-stop", scale=1)
    with gr.Accordion("More options", open=False):
        colors = gr.Checkbox(value=False, label="Keep the photo's colours")
        instant_size = gr.Slider(config.min_size, config.max_size, value=config.fast_size, step=32,
                                 label="Output size (long side, px)", visible=method == INSTANT)  # fmt: skip
        with gr.Column(visible=method == BEST) as gatys_advanced:
            size, optimizer, content_weight, style_weight, tv_weight, seed = _gatys_advanced(config, defaults)
        extra_styles, blend = _blend_inputs()
    gatys = GatysTab(style_image, loss_net, steps, gatys_run, stop, size, optimizer, content_weight, style_weight,
                     tv_weight, colors, seed, extra_styles, blend)  # fmt: skip
    shown = {INSTANT: [instant_box, instant_run, instant_size], BEST: [gatys_box, gatys_run, gatys_advanced]}
    return PaintingTab(choice, InstantForm(strength, instant_size, instant_run), gatys, shown)


def _gatys_advanced(config: DemoConfig, defaults: dict[str, Any]) -> tuple[Any, ...]:
    """Best quality's own options: size, optimiser, loss weights, seed."""
    with gr.Row():
        size = gr.Slider(
            config.min_size, config.max_size, value=defaults["size"], step=32, label="Output size (long side, px)"
        )
        optimizer = gr.Radio(OPTIMIZER_CHOICES, value="lbfgs", label="Optimizer")
    least = field_range(GatysOptions, "content_weight")[0]  # the same for the three weights
    with gr.Row():
        content_weight = gr.Number(label="Content weight", value=defaults.get("content_weight"), minimum=least)
        style_weight = gr.Number(label="Style weight", value=defaults.get("style_weight"), minimum=least)
        tv_weight = gr.Number(label="Smoothness (TV) weight", value=defaults.get("tv_weight"), minimum=least)
    gr.Markdown("Empty weight = the recommended value for the chosen quality.")
    seed = gr.Number(label="Seed", value=0, precision=0)
    return size, optimizer, content_weight, style_weight, tv_weight, seed


def _blend_inputs() -> tuple[gr.File, gr.Textbox]:
    extra_styles = gr.File(
        label="More style images to blend (optional)", file_count="multiple", file_types=["image"], type="filepath"
    )
    blend = gr.Textbox(
        value="",  # an initial value makes the API parameter optional
        label="Blend weights",
        placeholder="one number per style image, e.g. 0.7, 0.3 (empty = equal)",
    )
    return extra_styles, blend


def wire_painting_tab(stylist: Stylist, config: DemoConfig, content: gr.Image, tab: PaintingTab,
                      outputs: list[Any], region: RegionInput, status: gr.Markdown) -> list[Any]:  # fmt: skip
    """The two Stylize buttons (the stable API: /stylize_arbitrary, /stylize_gatys), Stop, the method and quality
    switches, and the words for a Best quality job that waits for its turn (`status`, demo/waiting.py). Returns the
    two jobs' events, for Download's on/off."""
    g = tab.gatys
    quiet_errors(g.steps, g.size, g.loss_net, g.optimizer, g.content_weight, g.style_weight, g.tv_weight, g.seed,
                 tab.instant.strength, tab.instant.size, tab.method)  # fmt: skip
    for button in (g.button, tab.instant.button):
        button.click(stylist.arm_stop, None, None, **PRIVATE)
    notice = WaitingNotice(stylist.lines["gatys"])
    timer = join_on_click(notice, g.button, status)
    fast_queue = {"concurrency_limit": config.fast_concurrency, "concurrency_id": "fast"}  # about a second
    # The page's button sends the region too; the API keeps /stylize_arbitrary as it was.
    instant = tab.instant.button.click(
        stylist.stylize_arbitrary_page,
        [*tab.instant_inputs(content), *region.inputs],
        outputs,
        api_visibility="private",
        show_progress_on=[g.style_image],
        **fast_queue,
    )
    with gr.Row(visible=False):
        instant_api = gr.Button()
    instant_api.click(hide_from_mcp(stylist.stylize_arbitrary), tab.instant_inputs(content), outputs,
                      api_name="stylize_arbitrary", **fast_queue)  # fmt: skip
    gatys = g.button.click(
        hide_from_mcp(stylist.stylize_gatys),
        tab.gatys_inputs(content),
        outputs,
        api_name="stylize_gatys",
        concurrency_limit=config.gatys_concurrency,
        concurrency_id="gatys",
        time_limit=config.gatys_time_limit,
        # The bar covers the style image (not needed while painting, and next to Stop), so the slider stays clear.
        show_progress_on=[g.style_image],
    )
    g.loss_net.change(stylist.on_loss_net_change, [g.loss_net, *g.quality_form], g.quality_form, **PRIVATE)
    g.stop.click(stylist.stop, None, None, **PRIVATE)  # see Stylist.stop
    wire_waiting(notice, timer, g.stop, gatys, status)
    shown = [c for method in (INSTANT, BEST) for c in tab.shown[method]]

    def show(method: str) -> list[Any]:
        return [gr.update(visible=m == method) for m in (INSTANT, BEST) for _ in tab.shown[m]]

    tab.method.change(show, [tab.method], shown, **PRIVATE)
    return [instant, gatys]
