"""The page's Video and Webcam tabs: layout and wiring only (the handlers are in demo/video_handlers.py).

Queues (why): a clip takes minutes on a CPU, so videos get their own queue of `video_concurrency` slots and never
hold up the photo tabs; a webcam stream holds its slot for as long as it streams, so it has its own queue too
(`webcam_concurrency`) and a per-visitor `webcam_time_limit` so nobody keeps it. Stable API: ``/stylize_video``
(video, style, strength, stabilize, size, painting=None) -> (last frame or the animation, the stylised file).
Both tabs take the visitor's own painting next to the fast styles (the Instant method), when its network loads here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gradio as gr

from .availability import Availability
from .config import DemoConfig
from .handlers import Stylist
from .mcp_tools import hide_from_mcp
from .video_handlers import VideoStylist, WebcamStylist
from .widgets import quiet_errors, strength_slider

VIDEO_TYPES = [".mp4", ".mov", ".m4v", ".mkv", ".webm", ".avi", ".gif", ".webp"]


def _style_choice(infos: Sequence[Any], first: str | None, elem_id: str) -> gr.Dropdown:
    return gr.Dropdown(
        choices=[(i.label, i.name) for i in infos],
        value=first,
        label="Style",
        allow_custom_value=True,  # the core answers unknown names with the list of styles
        elem_id=elem_id,
    )


def _painting_choice(available: Availability, elem_id: str) -> gr.Image:
    """The visitor's own painting, used instead of the style when given; hidden when Instant does not load here."""
    return gr.Image(
        label="…or your own painting (Instant; leave empty to use the style)",
        type="filepath",
        sources=["upload", "clipboard"],
        height=140,
        visible=available.instant,
        elem_id=elem_id,
    )


def _follow_painting(painting: gr.Image, style: gr.Dropdown) -> None:
    """A painting given greys the style out (it is not used), and clearing the painting brings the style back."""
    painting.change(lambda p: gr.Dropdown(interactive=not p), [painting], [style], api_visibility="private",
                    queue=False)  # fmt: skip


def video_tab(config: DemoConfig, videos: VideoStylist, infos: Sequence[Any], first: str | None) -> gr.Dropdown:
    """Upload a clip, pick a style, watch the frames come, play and download the result. Returns its dropdown."""
    with gr.Tab("Video", id="video"):
        gr.Markdown(
            f"A video (MP4, MOV, MKV, WebM, AVI) or an animated GIF/WebP, up to {config.video_max_seconds:g} s "
            f"and {config.video_max_frames} frames. A video comes back as MP4 with its sound, an animation as "
            "the same kind."
        )
        with gr.Row(equal_height=False):
            with gr.Column():
                clip = gr.File(label="1. Your video", file_types=VIDEO_TYPES, type="filepath", elem_id="video-in")
                quiet_errors(clip)  # a wrong file type is the sender's mistake: one log line, no traceback
                style = _style_choice(infos, first, "video-style")
                painting = _painting_choice(videos.available, "video-painting")
                strength = strength_slider()
                stabilize = gr.Checkbox(value=True, label="Steady strokes (less flicker between frames)")
                size = gr.Slider(
                    config.min_size,
                    config.video_max_size,
                    value=config.video_size,
                    step=32,
                    label="Output size (long side, px)",
                )
                with gr.Row():
                    run = gr.Button("2. Stylize video", variant="primary", elem_id="video-run", scale=3)
                    stop = gr.Button("Stop", variant="stop", elem_id="video-stop", scale=1)
            with gr.Column():
                preview = gr.Image(label="Latest painted frame", type="filepath", interactive=False,
                                   elem_id="video-preview")  # fmt: skip
                player = gr.Video(label="Your stylised video", visible=False, interactive=False, elem_id="video-out")
                download = gr.File(label="Download", interactive=False, elem_id="video-file")
    run.click(videos.arm_stop, None, None, api_visibility="private", queue=False)
    run.click(lambda: gr.Video(value=None, visible=False), None, [player], api_visibility="private", queue=False)
    event = run.click(
        hide_from_mcp(videos.stylize_video),  # HTTP API only: the MCP tools answer with one picture
        [clip, style, strength, stabilize, size, painting],
        [preview, download],
        api_name="stylize_video",
        concurrency_limit=config.video_concurrency,
        concurrency_id="video",
        time_limit=config.video_time_limit,
        show_progress_on=[preview],  # one bar, over the picture, not one per output
    )
    event.success(videos.show_result, [download], [player], api_visibility="private", queue=False)
    stop.click(videos.stop, None, None, api_visibility="private", queue=False)
    _follow_painting(painting, style)
    return style


def webcam_tab(config: DemoConfig, webcam: WebcamStylist, infos: Sequence[Any], first: str | None) -> gr.Dropdown:
    """Live stylisation of the visitor's camera through Gradio's streaming. Returns its dropdown."""
    with gr.Tab("Webcam", id="webcam"):
        gr.Markdown(
            f"Press **Record** and see yourself painted live ({config.webcam_size} px). A turn lasts up to "
            f"{config.webcam_time_limit} s; then your stream rejoins the queue, so everyone gets a turn."
        )
        with gr.Row(equal_height=False):
            with gr.Column():
                camera = gr.Image(
                    label="Your camera", sources=["webcam"], streaming=True, type="numpy", elem_id="webcam-in"
                )
                style = _style_choice(infos, first, "webcam-style")
                painting = _painting_choice(webcam.available, "webcam-painting")
                strength = strength_slider()
                stabilize = gr.Checkbox(value=True, label="Steady strokes (less flicker between frames)")
            painted = gr.Image(label="Painted", format="jpeg", interactive=False, elem_id="webcam-out")
    camera.stream(
        webcam.frame,
        [camera, style, strength, stabilize, painting],
        [painted],
        stream_every=config.webcam_interval,
        time_limit=config.webcam_time_limit,
        concurrency_limit=config.webcam_concurrency,
        concurrency_id="webcam",
        api_visibility="private",
        show_progress="hidden",
    )
    _follow_painting(painting, style)
    return style


def video_and_webcam(
    demo: gr.Blocks, config: DemoConfig, stylist: Stylist, infos: Sequence[Any], first: str | None
) -> None:
    """The two tabs under their own heading, below the photo tabs; their style lists follow the registry."""
    videos = VideoStylist(config, stylist.out_dir, stylist.available)
    webcam = WebcamStylist(config, stylist.available)
    gr.Markdown("## Moving pictures: video and webcam", elem_id="motion-heading")
    with gr.Tabs(elem_id="motion"):
        dropdowns = [video_tab(config, videos, infos, first), webcam_tab(config, webcam, infos, first)]

    def refresh(*current: str | None) -> list[Any]:
        """Page load: the registry as it is now (a newly trained style appears without a restart)."""
        now = stylist.styles()
        names = [i.name for i in now]
        fallback = first if first in names else (names[0] if names else None)
        choices = [(i.label, i.name) for i in now]
        return [gr.Dropdown(choices=choices, value=c if c in names else fallback) for c in current]

    demo.load(refresh, dropdowns, dropdowns, api_visibility="private", queue=False)
