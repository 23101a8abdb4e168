"""Gradio components with the demo's error manners: uploads and out-of-range inputs answer in the visitor's words.

Shared by every tab (photo, painting, video); no stylisation here.
"""

from __future__ import annotations

import html
import logging
from typing import Any

import gradio as gr
from PIL import Image, UnidentifiedImageError

from nst_core.fast import FastOptions
from nst_core.options import field_default, field_range

log = logging.getLogger("nst.demo")


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
                # escaped: the page renders the message as HTML and a value in <...> would vanish from it
                raise gr.Error(html.escape(exc.message, quote=False), print_exception=False) from None

        component.preprocess = preprocess


def strength_slider(**kw: Any) -> gr.Slider:
    """A fast style's strength, its range and default the core's (FastOptions' one declaration)."""
    lo, hi = field_range(FastOptions, "strength")
    return gr.Slider(lo, hi, value=field_default(FastOptions, "strength"), step=0.05, label="Strength", **kw)
