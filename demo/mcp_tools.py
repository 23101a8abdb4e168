"""The MCP tools: the page's three jobs, each answering with one picture, so an MCP client receives an image.

Why separate endpoints: Gradio's MCP server turns an endpoint's outputs into MCP content one by one, and the page's
`/stylize`, `/stylize_arbitrary` and `/stylize_gatys` answer with a before/after pair plus a file, which reaches an
MCP client as a text repr of file records. These return only the painted PNG (an MCP image block); the page's own
endpoints stay API-only (`hide_from_mcp`). No stylisation logic here: all call `Stylist`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gradio as gr

from .handlers import Stylist


def hide_from_mcp(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Keep an endpoint in the HTTP API but out of the MCP tool list (gradio lists only `_mcp_type == "tool"`)."""
    target = getattr(fn, "__func__", fn)
    target._mcp_type = "api-only"
    return fn


class ImageTools:
    """`Stylist`'s jobs with one image out."""

    def __init__(self, stylist: Stylist) -> None:
        self.stylist = stylist

    def stylize_image(
        self,
        image: str | None,
        style: str | None,
        strength: float = 1.0,
        preserve_colors: bool = False,
        size: int = 512,
    ) -> str:
        """Repaint a photo in one of the installed fast styles and return the painted picture (about a second).

        Args:
            image: the content photo (JPEG, PNG or WebP).
            style: name of an installed style, e.g. "starry_night".
            strength: 0..1, how much of the style to apply (1 = full style, 0 = the original photo).
            preserve_colors: keep the photo's own colours, take only strokes and texture from the style.
            size: long side of the result in pixels.

        Returns:
            The stylised image (PNG).
        """
        return self.stylist.stylize(image, style, strength, preserve_colors, size)[1]

    async def stylize_with_painting(
        self,
        content: str | None,
        style_image: str | None,
        loss_net: str = "squeezenet",
        size: int = 256,
        steps: int = 100,
        seed: int = 0,
        progress: gr.Progress = gr.Progress(),  # noqa: B008 - Gradio's documented way to ask for a progress bar
        request: gr.Request = None,  # type: ignore[assignment] - Gradio fills it in; not an API parameter
    ) -> str | None:
        """Paint a photo in the style of any painting by optimisation (Gatys et al.); minutes on a CPU.

        Args:
            content: the content photo.
            style_image: the painting whose style to copy.
            loss_net: "squeezenet" (fast preview) or "vgg19" (full quality, slow on CPU).
            size: long side of the result in pixels.
            steps: optimisation steps; more = closer to the style, slower.
            seed: random seed, for repeatable results.

        Returns:
            The stylised image (PNG).
        """
        png = None
        async for _, file in self.stylist.stylize_gatys(
            content, style_image, loss_net, size, steps, seed=seed, progress=progress, request=request
        ):
            png = file if isinstance(file, str) else png
        return png

    async def stylize_with_painting_instant(
        self,
        content: str | None,
        style_image: str | None,
        strength: float = 1.0,
        preserve_colors: bool = False,
        size: int = 512,
        progress: gr.Progress = gr.Progress(),  # noqa: B008 - Gradio's documented way to ask for a progress bar
        request: gr.Request = None,  # type: ignore[assignment] - Gradio fills it in; not an API parameter
    ) -> str | None:
        """Paint a photo in the style of any painting in one pass and return the painted picture (about a second).

        Args:
            content: the content photo.
            style_image: the painting whose style to copy.
            strength: 0..1, how much of the painting to apply (1 = full style, 0 = the original photo).
            preserve_colors: keep the photo's own colours, take only strokes and texture from the painting.
            size: long side of the result in pixels.

        Returns:
            The stylised image (PNG).
        """
        png = None
        async for _, file in self.stylist.stylize_arbitrary(
            content, style_image, strength, preserve_colors, size, progress=progress, request=request
        ):
            png = file if isinstance(file, str) else png
        return png
