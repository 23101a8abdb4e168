"""*Style only part of the photo*: a brush on the photo (or an uploaded mask) and which side of it gets the style.

Under the photo, shared by the jobs that take a region (Fast styles, Instant). The editor's background follows
the photo; what the visitor paints is its brush layer, which `handlers.brush_mask` turns into the mask the engine
takes (`nst_core.stylize(..., mask=..., invert_mask=...)`). Nothing painted and no mask uploaded: the whole
picture. No stylisation here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr

from .handlers import INSIDE, REGION_CHOICES
from .widgets import photo_input

PRIVATE = {"api_visibility": "private", "queue": False}
BRUSH_COLOUR = ("#ff2d55", 0.6)  # see-through, so the photo shows under the stroke


@dataclass
class RegionInput:
    editor: gr.ImageEditor
    mask: gr.Image
    mode: gr.Radio

    @property
    def inputs(self) -> list[Any]:
        """In the order of `Stylist.stylize_page`'s last three parameters."""
        return [self.editor, self.mask, self.mode]


def region_input() -> RegionInput:
    with gr.Accordion("Style only part of the photo (optional)", open=False, elem_id="region"):
        gr.Markdown("Paint over the part to style (finger or mouse), or upload a mask (white = styled). "
                    "Nothing painted: the whole picture.")  # fmt: skip
        editor = gr.ImageEditor(
            type="pil",
            image_mode="RGBA",
            format="png",  # lossless: the layer's alpha is the mask
            sources=[],  # the background is the photo above
            transforms=[],  # a crop would no longer match the photo
            layers=False,
            brush=gr.Brush(colors=[BRUSH_COLOUR], default_color=BRUSH_COLOUR, color_mode="fixed"),
            eraser=gr.Eraser(),
            height=320,
            label="Paint the area",
            elem_id="region-editor",
        )
        mode = gr.Radio(REGION_CHOICES, value=INSIDE, show_label=False, elem_id="region-mode")
        mask = photo_input(label="…or upload a mask", type="filepath", image_mode=None, sources=["upload"],
                           height=140, elem_id="region-mask")  # fmt: skip
    return RegionInput(editor, mask, mode)


def wire_region(content: gr.Image, region: RegionInput) -> None:
    """A new photo becomes the editor's background, with a clean brush layer."""
    content.change(lambda photo: photo, [content], [region.editor], **PRIVATE)
