"""What the page's buttons call: widgets in, `nst_core.stylize` options out, pixels and friendly words back.

No stylisation logic lives here (that is nst_core's job); this module only turns widget text into numbers,
enforces this server's own caps (size, steps; may be stricter than the core's) and turns every failure into a message
a visitor can act on, never a traceback. Everything else (ranges, blend count) is nst_core's OptionsError.
"""

from __future__ import annotations

import colorsys
import contextlib
import hashlib
import html
import logging
import re
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import gradio as gr
from PIL import Image, ImageChops, ImageDraw

import nst_core
from nst_core.progress import status_line

from .availability import BEST, INSTANT, Availability
from .config import DemoConfig
from .dispatch import engine_from_env, show_progress
from .examples import painting_for, painting_tile
from .files import result_path
from .jobs import StopSwitches, run_in_thread
from .waiting import CANCELLED_WAITING, Line

log = logging.getLogger("nst.demo")

GENERIC_ERROR = "Something went wrong on our side while painting. Please try again, perhaps with a smaller size."
LOSS_NET_CHOICES = [("Fast preview (SqueezeNet)", "squeezenet"), ("Full quality (VGG-19)", "vgg19")]
OPTIMIZER_CHOICES = [("L-BFGS (best quality)", "lbfgs"), ("Adam (steadier on big images)", "adam")]

ImagePair = tuple[Image.Image, Image.Image]
# The Gatys form's fields that follow the quality choice, in the order the page wires them, with their names.
GATYS_FORM_FIELDS = {
    "size": "output size",
    "steps": "steps",
    "content_weight": "content weight",
    "style_weight": "style weight",
    "tv_weight": "smoothness weight",
}
GRID_SIZE = 256  # long side of each picture of "Try every style" (a fraction of a second per style on a CPU)
MIN_UPLOAD_SIDE = 16  # smaller is a mistake (a 1x1 pixel, an 8 px strip): say so instead of painting a flat square


def _same(a: Any, b: Any) -> bool:
    """Form numbers come back as floats (100 -> 100.0): compare as numbers."""
    try:
        return b is not None and abs(float(a) - float(b)) <= 1e-9 * max(1.0, abs(float(b)))
    except (TypeError, ValueError):
        return False


def visitor_text(message: str) -> str:
    """A message as the page must receive it: the toast renders HTML, so `<urlopen error ...>` would vanish as an
    unknown tag; escaped, the visitor reads the whole sentence."""
    return html.escape(message, quote=False)


def refuse(message: str) -> gr.Error:
    """A visitor's mistake, said in one sentence: answered on the page, one log line, no traceback."""
    return gr.Error(visitor_text(message), print_exception=False)


def friendly_error(exc: BaseException) -> gr.Error:
    """NSTError messages are written for people (the visitor's part of them: a WeightsError's paths and fixes are
    the operator's, so they go to the log); anything else is our bug: log it, show a generic line."""
    if isinstance(exc, gr.Error):
        exc.print_exception = False  # ours or Gradio's input checks: the visitor's mistake, not a fault
        return exc
    if isinstance(exc, nst_core.WeightsError):
        log.warning("weights could not be loaded: %s", exc)
    if isinstance(exc, nst_core.NSTError):
        return gr.Error(visitor_text(exc.visitor_message), print_exception=False)
    log.error("stylisation failed", exc_info=(type(exc), exc, exc.__traceback__))
    return gr.Error(GENERIC_ERROR, print_exception=False)


def parse_blend(text: str | None) -> list[float] | None:
    """'0.7, 0.3' -> [0.7, 0.3]; empty means equal weights. The core checks the count and the values."""
    if not text or not text.strip():
        return None
    parts = [p for p in re.split(r"[,;\s]+", text.strip()) if p]
    try:
        return [float(p) for p in parts]
    except ValueError:
        raise refuse("Blend weights must be numbers separated by commas, like 0.7, 0.3.") from None


def capped_int(value: Any, what: str, cap: int) -> int:
    """Widget value -> int, at most this server's `cap` (DemoConfig; may be stricter than the core's limits).

    Lower bounds and the core's own maxima are left to GatysOptions/FastOptions.validate.
    """
    try:
        number = int(value)
    except (TypeError, ValueError, OverflowError):
        raise refuse(f"{what} must be a whole number, at most {cap} on this server.") from None
    if number > cap:
        raise refuse(f"{what} can be at most {cap} on this server (you asked for {number}).")
    return number


INSIDE, OUTSIDE = "inside", "outside"  # the region choice: style the painted area, or everything but it
REGION_CHOICES = [("Style only the painted area", INSIDE), ("Style everything but the painted area", OUTSIDE)]


def brush_mask(editor: Any) -> Image.Image | None:
    """The image editor's value -> the region as a black-and-white mask: wherever a brush layer has paint (any
    alpha: the brush colour is see-through, its opacity is for the visitor's eyes, not a weight; the engine softens
    the edge). Nothing painted -> None (the whole picture, as without a region)."""
    if not isinstance(editor, dict):
        return None
    alphas = [layer.convert("RGBA").getchannel("A") for layer in editor.get("layers") or [] if layer is not None]
    if not alphas:
        return None
    mask = alphas[0]
    for alpha in alphas[1:]:
        mask = ImageChops.lighter(mask, alpha.resize(mask.size))
    return mask.point(lambda a: 255 if a else 0) if mask.getbbox() else None


def placeholder_preview(name: str, label: str) -> Image.Image:
    """A coloured tile with initials, so a style trained without a preview still shows up in the gallery."""
    hue = int(hashlib.sha1(name.encode()).hexdigest()[:4], 16) / 0xFFFF
    r, g, b = (int(c * 255) for c in colorsys.hsv_to_rgb(hue, 0.45, 0.85))
    tile = Image.new("RGB", (256, 256), (r, g, b))
    initials = "".join(w[0] for w in label.split()[:2]).upper() or "?"
    draw = ImageDraw.Draw(tile)
    draw.text((128, 128), initials, fill=(255, 255, 255), anchor="mm", font_size=96)
    return tile


class Stylist:
    """The handlers bound to one server config; methods are wired to Gradio events in `demo.app`."""

    def __init__(self, config: DemoConfig, out_dir: Path | None = None, available: Availability | None = None) -> None:
        import tempfile

        self.config = config
        self.engine = engine_from_env()  # this process, or the queue's workers (NST_QUEUE_URL)
        self._first: ImagePair | None = None  # the opening example, painted once (first_impression)
        self.available = available or Availability()  # what loads here (demo/availability.py); all, by default
        self.out_dir = out_dir or Path(tempfile.gettempdir()) / "nst-demo"
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self._stops = StopSwitches()  # page session -> the stop switch of its queued/running Gatys job
        self.lines = {"gatys": Line(config.gatys_concurrency)}  # who waits for a Gatys slot (demo/waiting.py)

    # -- the Stop button -------------------------------------------------------------------------------------
    # Stop asks the job to end itself (the core stops at its next step, the page gets "Stopped." and the picture
    # so far). Cancelling the event from outside instead raced with the streamed images: a red "Error" badge and no
    # message. The switch is armed when Stylize is clicked, so a job still waiting in the queue can be stopped too.
    def arm_stop(self, request: gr.Request) -> None:
        self._stops.arm(request.session_hash)

    def stop(self, request: gr.Request) -> None:
        self._stops.stop(request.session_hash)

    # -- style registry -> widgets ---------------------------------------------------------------------------
    def styles(self) -> list[Any]:
        """The registry, read on every page load: a newly trained style shows up without a restart."""
        try:
            return list(nst_core.list_styles())
        except Exception:  # a broken weights folder must not take the page down
            log.exception("could not list styles")
            return []

    def gallery_items(self, infos: Sequence[Any]) -> list[tuple[Any, str]]:
        """(tile, caption) per style: its sample result, with its painting inset when the operator supplies it."""
        items = []
        paintings = Path(self.config.examples_dir) if self.config.examples_dir else None
        for info in infos:
            preview = info.preview_path
            label = info.display_name or info.name
            if not preview or not Path(preview).is_file():
                items.append((placeholder_preview(info.name, label), label))
            else:
                items.append((self._tile(Path(preview), painting_for(paintings, info.name, info.meta)), label))
        return items

    def _tile(self, preview: Path, painting: Path | None) -> str:
        if painting is None:
            return str(preview)
        try:
            return str(painting_tile(preview, painting, self.out_dir))
        except (OSError, ValueError, Image.DecompressionBombError):  # the operator's file is broken: no inset
            log.warning("could not read the painting %s for the style gallery", painting.name)
            return str(preview)

    def refresh_styles(self, current: str | None = None) -> tuple[Any, Any, list[str]]:
        """Page-load handler: (gallery update, dropdown update, style names for the select handler)."""
        infos = self.styles()
        names = [i.name for i in infos]
        value = current if current in names else (names[0] if names else None)
        gallery = gr.Gallery(value=self.gallery_items(infos), selected_index=names.index(value) if value else None)
        dropdown = gr.Dropdown(choices=[(i.label, i.name) for i in infos], value=value)
        return gallery, dropdown, names

    @staticmethod
    def on_style_selected(names: list[str], evt: gr.SelectData) -> Any:
        if evt.index is None or not 0 <= evt.index < len(names):
            return gr.skip()
        return names[evt.index]

    @staticmethod
    def on_style_picked(names: list[str], style: str | None) -> Any:
        """Dropdown -> gallery highlight, so both always show the same choice."""
        return gr.Gallery(selected_index=names.index(style)) if style in names else gr.skip()

    def gatys_defaults(self, loss_net: str) -> dict[str, Any]:
        """The core's recommended size, steps and weights for a loss network on this device (shown in the form).

        Size: the fast preview keeps this server's small Gatys size; full quality takes the core's default size
        for the device (384 px on a CPU, where bf16 makes VGG-19 affordable), so it looks sharp in the comparison.
        """
        try:
            opts = nst_core.GatysOptions(loss_net=loss_net, device=self.config.device).resolved()
        except Exception:
            log.exception("no Gatys defaults for %s", loss_net)
            return {"steps": self.config.gatys_steps, "size": self.config.gatys_size}
        steps = self.config.gatys_steps if self.config.gatys_steps_fixed else opts.steps
        full = loss_net == "vgg19" and not self.config.gatys_size_fixed
        return {
            "size": min(
                max(opts.size, self.config.gatys_size) if full else self.config.gatys_size, self.config.max_size
            ),
            "steps": min(steps, self.config.gatys_max_steps),
            "content_weight": opts.content_weight,
            "style_weight": opts.style_weight,
            "tv_weight": opts.tv_weight,
        }

    def on_loss_net_change(self, loss_net: str, *current: Any) -> tuple[Any, ...]:
        """Switching network switches size, steps and weights to its recommended values (their scales differ per
        net), except values the visitor typed: those stay, and a notice says so."""
        new = self.gatys_defaults(loss_net)
        old = [self.gatys_defaults(n) for _, n in LOSS_NET_CHOICES if n != loss_net]
        updates, kept = [], []
        for key, value in zip(GATYS_FORM_FIELDS, current, strict=True):
            if value is None or any(_same(value, d.get(key)) for d in old):
                updates.append(new.get(key))
            else:
                updates.append(gr.skip())
                kept.append(GATYS_FORM_FIELDS[key])
        if kept:
            gr.Info(f"Kept the {' and '.join(kept)} you set; the recommended values are shown when a box is empty.")
        return tuple(updates)

    # -- helpers --------------------------------------------------------------------------------------------
    def _refuse_unavailable(self, method: str, loss_net: str | None = None) -> None:
        """An API caller may ask for what the page does not offer: the same plain reason the page shows."""
        if (why := self.available.refusal(method, loss_net)) is not None:
            raise gr.Error(visitor_text(why), print_exception=False)

    def _paintings(self, style_image: Any, extra_styles: Sequence[str] | None) -> list[Image.Image]:
        return [self._load(p, "a style image") for p in (style_image, *(extra_styles or ()))]

    def _load(self, path: Any, what: str) -> Image.Image:
        if path is None or (isinstance(path, str) and not path):
            raise refuse(f"Please add {what} first.")
        if isinstance(path, dict):  # a FileData dict, when an API client bypasses preprocessing
            path = path.get("path")
        label = what.replace("a ", "your ", 1)  # "your photo": messages never show the server's upload path
        # results are at most max_size px: a huge camera JPEG is read at a reduced scale instead of refused
        return nst_core.load_image(
            path,
            max_pixels=self.config.max_pixels,
            label=label,
            shrink_to=self.config.max_size,
            min_side=MIN_UPLOAD_SIDE,
            keep_alpha=what == "a photo",  # a cut-out stays a cut-out: the engine gives its transparency back
        )

    def _save_png(self, img: Image.Image, stem: str) -> str:
        """Write the full-resolution PNG for download; old ones are swept so the disk stays bounded."""
        path = result_path(self.out_dir, stem, ".png", self.config.file_ttl)
        nst_core.save_image(img, path, format="PNG")
        return str(path)

    def _pairs(self, photo: Image.Image) -> Callable[[Image.Image], ImagePair]:
        """(before, after) for the slider; the photo is resized once per picture size (coarse-to-fine passes)."""
        before: dict[tuple[int, int], Image.Image] = {}

        def pair(img: Image.Image) -> ImagePair:
            if img.size not in before:
                before[img.size] = self._before(photo, img.size)
            return before[img.size], img

        return pair

    @staticmethod
    def _before(content: Image.Image, size: tuple[int, int]) -> Image.Image:
        return content if content.size == size else content.resize(size, Image.Resampling.LANCZOS)

    # -- endpoints ------------------------------------------------------------------------------------------
    def stylize(
        self,
        image: str | None,
        style: str | None,
        strength: float = 1.0,
        preserve_colors: bool = False,
        size: int = 512,
    ) -> tuple[ImagePair, str]:
        """Repaint a photo in one of the installed fast styles (about a second).

        Args:
            image: the content photo (JPEG, PNG or WebP).
            style: name of an installed style, e.g. "starry_night" (see the style dropdown for the list).
            strength: 0..1, how much of the style to apply (1 = full style, 0 = the original photo).
            preserve_colors: keep the photo's own colours, take only strokes and texture from the style.
            size: long side of the result in pixels.

        Returns:
            The (original, stylised) pair at the result's size, and the stylised image as a PNG file.
        """
        return self._fast(image, style, strength, preserve_colors, size, None, False)

    def stylize_region(
        self,
        image: str | None,
        style: str | None,
        strength: float = 1.0,
        preserve_colors: bool = False,
        size: int = 512,
        mask: str | None = None,
        invert_mask: bool = False,
    ) -> tuple[ImagePair, str]:
        """Repaint only part of a photo in a fast style; the rest comes back as the photo.

        Args:
            image: the content photo (JPEG, PNG or WebP).
            style: name of an installed style, e.g. "starry_night".
            strength: 0..1, how much of the style to apply.
            preserve_colors: keep the photo's own colours.
            size: long side of the result in pixels.
            mask: a mask picture: white (or opaque, on a transparent picture) where the style goes; grey levels
                give soft edges. Empty = the whole picture.
            invert_mask: style everything but the mask's area.

        Returns:
            The (original, stylised) pair of the whole picture, and the stylised image as a PNG file.
        """
        return self._fast(image, style, strength, preserve_colors, size, mask or None, bool(invert_mask))

    def stylize_page(
        self,
        image: str | None,
        style: str | None,
        strength: float,
        preserve_colors: bool,
        size: int,
        brush: Any,
        mask: str | None,
        region_mode: str | None,
    ) -> tuple[ImagePair, str]:
        """The page's Fast Stylize: the region comes from the uploaded mask, else from the brush (none: all)."""
        region = mask or brush_mask(brush)
        return self._fast(image, style, strength, preserve_colors, size, region, region_mode == OUTSIDE)

    def _fast(
        self, image: Any, style: Any, strength: Any, preserve_colors: Any, size: Any, mask: Any, invert: bool
    ) -> tuple[ImagePair, str]:
        try:
            if not style:
                raise refuse("Please pick a style first.")
            content = self._load(image, "a photo")
            region = {} if mask is None else {"mask": self._mask(mask), "invert_mask": invert}
            result = self.engine.stylize(
                content,
                style,
                method="fast",
                strength=float(strength),
                preserve_colors=bool(preserve_colors),
                size=capped_int(size, "Output size (px)", self.config.max_size),
                device=self.config.device,
                precision=self.config.precision,
                memory_format=self.config.memory_format,
                **region,
            )
            png = self._save_png(result, str(style))
        except Exception as exc:
            raise friendly_error(exc) from None
        return (self._before(content, result.size), result), png

    def first_impression(self, rows: list[list[str]]) -> ImagePair | None:
        """The first photo example, finished, for the slider when the page opens: a visitor sees what the page
        does before touching anything. Painted once per server (a fast style: a fraction of a second)."""
        if not rows:
            return None
        if self._first is None:
            try:
                self._first = self.stylize_example(*rows[0])[0]
            except Exception:  # an example that cannot be painted leaves the page as it was, never breaks it
                log.warning("the first example could not be painted", exc_info=True)
                return None
        return self._first

    def _mask(self, mask: Any) -> Any:
        """A mask picture as the engine takes it: the brush's already in memory, an upload read like a photo
        (limits, plain messages) but with its mode kept (alpha or grey levels are the region)."""
        if isinstance(mask, Image.Image):
            return mask
        if isinstance(mask, dict):  # a FileData dict, when an API client bypasses preprocessing
            mask = mask.get("path")
        nst_core.load_image(mask, max_pixels=self.config.max_pixels, label="your mask")  # refuse non-pictures
        with Image.open(mask) as raw:
            raw.load()
            return raw.copy()

    def stylize_example(self, image: str | None, style: str | None) -> tuple[ImagePair, str]:
        """A clicked photo example: the fast style at this server's default settings (cached by Gradio)."""
        return self.stylize(image, style, 1.0, False, self.config.fast_size)

    def try_every_style(
        self,
        image: str | None,
        progress: gr.Progress = gr.Progress(),  # noqa: B008 - Gradio's documented way
    ) -> Iterator[tuple[Any, list[str]]]:
        """Every installed fast style on the visitor's photo, small (GRID_SIZE px), as a gallery labelled by style
        that fills as they come, and the styles' names (a click on a picture picks its style). A style that fails
        is left out (logged): one broken weights file must not spoil the others."""
        try:
            photo = self._load(image, "a photo")
        except Exception as exc:
            raise friendly_error(exc) from None
        infos, tiles, names = self.styles(), [], []
        for i, info in enumerate(infos):
            label = info.display_name or info.name
            progress(i / len(infos), desc=f"Painting {label} ({i + 1} of {len(infos)})…")
            try:
                cfg = self.config
                picture = self.engine.stylize(photo, info.name, method="fast", size=min(GRID_SIZE, cfg.max_size),
                                              device=cfg.device, precision=cfg.precision,
                                              memory_format=cfg.memory_format)  # fmt: skip
            except Exception:
                log.warning("style %s failed in the every-style grid", info.name, exc_info=True)
                continue
            tiles.append((picture, label))
            names.append(info.name)
            yield gr.Gallery(value=list(tiles), visible=True), names

    def _gatys_options(
        self, loss_net: str, size: Any, steps: Any, optimizer: str, colors: bool, seed: Any, weights: dict
    ) -> dict[str, Any]:
        """The form's values as `nst_core.stylize` options, with this server's caps; empty weights = the core's."""
        options: dict[str, Any] = {
            "loss_net": loss_net or self.config.gatys_loss_net,
            "size": capped_int(size, "Output size (px)", self.config.max_size),
            "steps": capped_int(steps, "Steps", self.config.gatys_max_steps),
            "optimizer": optimizer or "lbfgs",
            "preserve_colors": bool(colors),
            "seed": int(seed or 0),
            "device": self.config.device,
            "precision": self.config.precision,
            "memory_format": self.config.memory_format,
            "preview_every": self.config.preview_every,
        }
        return options | {key: float(value) for key, value in weights.items() if value is not None}

    async def stylize_gatys(
        self,
        content: str | None,
        style_image: str | None,
        loss_net: str = "squeezenet",
        size: int = 256,
        steps: int = 100,
        content_weight: float | None = None,
        style_weight: float | None = None,
        tv_weight: float | None = None,
        optimizer: str = "lbfgs",
        preserve_colors: bool = False,
        seed: int = 0,
        extra_styles: Sequence[str] | None = None,
        blend_weights: str | None = None,
        progress: gr.Progress = gr.Progress(),  # noqa: B008 - Gradio's documented way to ask for a progress bar
        request: gr.Request = None,  # type: ignore[assignment] - Gradio fills it in; not an API parameter
    ) -> AsyncIterator[tuple[Any, Any]]:
        """Paint a photo in the style of any image by optimisation (Gatys et al.), streaming progress.

        Args:
            content: the content photo.
            style_image: the painting whose style to copy.
            loss_net: "squeezenet" (fast preview) or "vgg19" (full quality, slow on CPU).
            size: long side of the result in pixels.
            steps: optimisation steps; more = closer to the style, slower.
            content_weight: weight of keeping the photo's content (empty = the core's default).
            style_weight: weight of matching the style (empty = the core's default).
            tv_weight: total-variation weight; higher = smoother result (empty = the core's default).
            optimizer: "lbfgs" or "adam".
            preserve_colors: keep the photo's own colours.
            seed: random seed, for repeatable results.
            extra_styles: more style images to blend with the first one.
            blend_weights: one number per style image (first image first), e.g. "0.7, 0.3"; empty = equal.

        Returns:
            The (original, stylised) pair, and the stylised image as a PNG file.
        """
        try:
            loss_net = loss_net or self.available.default_loss_net(self.config.gatys_loss_net)
            self._refuse_unavailable(BEST, loss_net)
            photo = self._load(content, "a photo")
            styles = self._paintings(style_image, extra_styles)
            weights = {"content_weight": content_weight, "style_weight": style_weight, "tv_weight": tv_weight}
            options = self._gatys_options(loss_net, size, steps, optimizer, preserve_colors, seed, weights)
            options |= {"method": "gatys", "style_images": styles, "style_blend": parse_blend(blend_weights)}
        except Exception as exc:
            raise friendly_error(exc) from None
        progress(0.0, desc="Loading the loss network…")
        async for answer in self._streamed(photo, options, request, progress, "gatys", _describe):
            yield answer

    async def stylize_arbitrary(
        self,
        content: str | None,
        style_image: str | None,
        strength: float = 1.0,
        preserve_colors: bool = False,
        size: int = 512,
        extra_styles: Sequence[str] | None = None,
        blend_weights: str | None = None,
        progress: gr.Progress = gr.Progress(),  # noqa: B008 - Gradio's documented way to ask for a progress bar
        request: gr.Request = None,  # type: ignore[assignment] - Gradio fills it in; not an API parameter
    ) -> AsyncIterator[tuple[Any, Any]]:
        """Paint a photo in the style of any painting in one pass (the Instant method: about a second on a CPU).

        Args:
            content: the content photo.
            style_image: the painting whose style to copy.
            strength: 0..1, how much of the painting to apply (1 = full style, 0 = the original photo).
            preserve_colors: keep the photo's own colours, take only strokes and texture from the painting.
            size: long side of the result in pixels.
            extra_styles: more paintings to blend with the first one.
            blend_weights: one number per painting (first painting first), e.g. "0.7, 0.3"; empty = equal.

        Returns:
            The (original, stylised) pair, and the stylised image as a PNG file.
        """
        form = (content, style_image, strength, preserve_colors, size, extra_styles, blend_weights)
        async for answer in self._instant(*form, None, False, progress, request):
            yield answer

    async def stylize_arbitrary_page(
        self,
        content: str | None,
        style_image: str | None,
        strength: float,
        preserve_colors: bool,
        size: int,
        extra_styles: Sequence[str] | None,
        blend_weights: str | None,
        brush: Any,
        mask: str | None,
        region_mode: str | None,
        progress: gr.Progress = gr.Progress(),  # noqa: B008 - Gradio's documented way to ask for a progress bar
        request: gr.Request = None,  # type: ignore[assignment] - Gradio fills it in; not an API parameter
    ) -> AsyncIterator[tuple[Any, Any]]:
        """The page's Instant Stylize: with the region of *Style only part of the photo*, like `stylize_page`."""
        form = (content, style_image, strength, preserve_colors, size, extra_styles, blend_weights)
        region = mask or brush_mask(brush)
        async for answer in self._instant(*form, region, region_mode == OUTSIDE, progress, request):
            yield answer

    async def _instant(
        self, content: Any, style_image: Any, strength: Any, preserve_colors: Any, size: Any, extra_styles: Any,
        blend_weights: Any, mask: Any, invert: bool, progress: Any, request: gr.Request | None,
    ) -> AsyncIterator[tuple[Any, Any]]:  # fmt: skip
        try:
            self._refuse_unavailable(INSTANT)
            photo = self._load(content, "a photo")
            options = {
                "method": "arbitrary",
                "style_images": self._paintings(style_image, extra_styles),
                "style_blend": parse_blend(blend_weights),
                "strength": float(strength),
                "preserve_colors": bool(preserve_colors),
                "size": capped_int(size, "Output size (px)", self.config.max_size),
                "device": self.config.device,
                "precision": self.config.precision,
                "memory_format": self.config.memory_format,
            }
            if mask is not None:
                options |= {"mask": self._mask(mask), "invert_mask": invert}
        except Exception as exc:
            raise friendly_error(exc) from None
        progress(0.0, desc="Reading the painting…")
        async for answer in self._streamed(photo, options, request, progress, "instant", _describe_instant):
            yield answer

    async def _streamed(
        self,
        photo: Image.Image,
        options: dict[str, Any],
        request: gr.Request | None,
        progress: Any,
        stem: str,
        describe: Callable[[nst_core.Progress], str],
    ) -> AsyncIterator[tuple[Any, Any]]:
        """One `nst_core.stylize` job on a worker thread, for either painting method: progress and pictures so far
        to the page, the result and its PNG at the end; Stop (the page session's switch) keeps the picture so far."""
        session = getattr(request, "session_hash", None)
        cancel = self._stops.claim(session)  # the page's stop switch, armed at the click (or made here)
        if cancel.is_set():  # Stop was pressed while it waited in the queue: nothing to paint
            self._stops.release(session, cancel)
            gr.Info(CANCELLED_WAITING)
            yield gr.skip(), None
            return
        line = self.lines.get(stem) or Line(1)  # a queue nobody watches gets a line of its own
        token = line.start(session)
        pair = self._pairs(photo)

        def work(callback: Any) -> Image.Image:
            return self.engine.stylize(photo, callback=callback, cancel=cancel, **options)

        shown: Image.Image | None = None  # the newest picture on the page, kept when the visitor stops the run
        try:
            async with contextlib.aclosing(run_in_thread(work, cancel, f"nst-{stem}")) as events:
                async for kind, payload in events:
                    if kind == "done":
                        yield pair(payload), self._save_png(payload, stem)
                        return
                    show_progress(progress, payload, describe)
                    line.report(token, payload)
                    if payload.image is not None:
                        shown = payload.image
                        yield pair(shown), gr.skip()
        except nst_core.Cancelled:  # the Stop button
            gr.Info("Stopped. The picture so far can be downloaded." if shown else "Stopped.")
            yield (pair(shown), self._save_png(shown, stem)) if shown else (gr.skip(), None)
        except Exception as exc:
            raise friendly_error(exc) from None
        finally:
            self._stops.release(session, cancel)
            line.finish(token)


def _describe(p: nst_core.Progress) -> str:
    """'Painting… step 60/150 (coarse-to-fine pass 1 of 2) · 40 s, about 1 min left'. Multi-scale runs count the
    steps of every pass, which is why a 512 px run reads 150 steps when 100 were asked for."""
    return status_line(p, f"Painting… step {p.step}/{p.total}")


def _describe_instant(p: nst_core.Progress) -> str:
    """'Painting… pass 2 of 4 · 0 s': the cascade's levels (or, for a large picture, its tiles' passes), over in
    seconds, so no time-left estimate."""
    return status_line(p, f"Painting… pass {p.step} of {p.total}", time_left=False)
