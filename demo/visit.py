"""Under the result: "Try every style on my photo" (a gallery of the photo in each fast style, labelled by style; a
click picks that style) and this visit's pictures (each result made in this page session, newest first).

Why per page session (gr.State) and not on the server: the pictures are the visitor's; another visitor never sees
them, and they go when the tab closes. No stylisation here: the grid is `Stylist.try_every_style`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import gradio as gr

HISTORY_SIZE = 12  # pictures kept in "This visit's pictures"; older ones drop off the end


@dataclass
class VisitPanel:
    grid: gr.Gallery
    grid_names: gr.State  # the styles of the grid's pictures, in order (for a click on one)
    history: gr.State  # [(png path, caption)], newest first
    gallery: gr.Gallery


def visit_panel() -> VisitPanel:
    """Both galleries, hidden until they have something to show."""
    # Short labels: a longer one ran under the gallery's corner icon on a phone. A click on a tile picks its style.
    grid = gr.Gallery(label="Every style on your photo", visible=False, columns=4, height="auto", allow_preview=False,
                      object_fit="cover", interactive=False, buttons=[], elem_id="style-grid")  # fmt: skip
    gallery = gr.Gallery(label="This visit's pictures", visible=False, columns=4, height="auto", object_fit="cover",
                         interactive=False, buttons=["download"], elem_id="history")  # fmt: skip
    return VisitPanel(grid, gr.State([]), gr.State([]), gallery)


def remember(history: list[Any], png: str | None, caption: str) -> tuple[list[Any], Any]:
    """A new result goes first; at most HISTORY_SIZE are kept. No file (a run stopped before its first picture):
    nothing changes."""
    if not png:
        return history, gr.skip()
    kept = [(png, caption), *(item for item in history if item[0] != png)][:HISTORY_SIZE]
    return kept, gr.Gallery(value=kept, visible=True)


def wire_history(
    panel: VisitPanel,
    download: gr.DownloadButton,
    fast: tuple[list[Any], gr.Dropdown, Mapping[str, str]],
    painting: Mapping[str, Any],
) -> None:
    """After each job that succeeded, its PNG (Download's file) joins the history. `fast`: the fast jobs' events,
    the style dropdown and style name -> caption; `painting`: caption -> the event of a painting job."""
    private = {"api_visibility": "private", "queue": False}
    outputs = [panel.history, panel.gallery]
    events, style, labels = fast
    for event in events:
        event.success(lambda h, p, s: remember(h, p, labels.get(s, s)), [panel.history, download, style], outputs,
                      **private)  # fmt: skip
    for caption, event in painting.items():
        event.success(lambda h, p, c=caption: remember(h, p, c), [panel.history, download], outputs, **private)
