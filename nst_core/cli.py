"""`python -m nst_core`: a thin view of the public API (defaults live in the options dataclasses, not here)."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from dataclasses import fields
from pathlib import Path

from tqdm import tqdm

from . import __version__
from .api import METHODS, stylize
from .arbitrary import ArbitraryOptions
from .argparsing import ArgumentParser
from .errors import NSTError, OptionsError
from .fast.run import FastOptions
from .gatys import GatysOptions
from .images import load_image, output_format, save_image
from .options import add_argument, add_arguments, cli_flag, field_help, field_range, option_names, shown, spelled
from .progress import Progress
from .styles import (
    check_name_free,
    check_writable_dir,
    import_torch_checkpoint,
    list_styles,
    validate_name,
    weights_dirs,
)
from .video.container import OUTPUTS as VIDEO_OUTPUTS
from .video.run import detect_media, not_a_video, stylize_video


def build_parser() -> argparse.ArgumentParser:
    p = ArgumentParser(prog="python -m nst_core", description="Neural style transfer.")
    p.add_argument("--version", action="version", version=f"nst {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser(
        "stylize",
        help="stylise an image",
        description="Stylise CONTENT with an installed style (--style NAME, fast) or one or more paintings "
        "(--style-image: Gatys, or --method arbitrary for one pass).",
    )
    s.add_argument("content", help="content image (photo), video or animated GIF/WebP (recognised by content)")
    s.add_argument(
        "-o", "--output", required=True,
        help="output file: .png, .jpg or .webp for a picture; .mp4, .mov, .mkv or .webm for a video; "
        ".gif or .webp for an animation",
    )  # fmt: skip
    s.add_argument(
        "--method",
        choices=METHODS,
        help="fast (needs --style), arbitrary or gatys (need --style-image); inferred when omitted (gatys for a "
        "--style-image)",
    )
    s.add_argument(
        "--style", action="append", default=[],
        help=field_help(FastOptions, "style") + "; with --mask, one per region (repeat)",
    )  # fmt: skip
    s.add_argument(
        "--style-image",
        action="append",
        default=[],
        metavar="PATH",
        help="a painting (Gatys or arbitrary); repeat to blend several",
    )
    s.add_argument(
        "--mask", metavar="PATH",
        help="style only part of the picture: a greyscale mask (white = styled, soft edges kept) or colour-coded "
        "regions (black = the photo), one --style or --style-image per region, or one for all",
    )  # fmt: skip
    s.add_argument("--invert-mask", action="store_true", help="style the black part of a greyscale mask instead")
    _add_option_groups(s)
    s.add_argument("--quality", type=int, default=95, help="JPEG/WebP quality")
    s.add_argument("-q", "--quiet", action="store_true", help="no progress bar")

    sub.add_parser("styles", help="list the installed fast styles")

    i = sub.add_parser("import-style", help="convert a pytorch/examples fast_neural_style .pth into a style")
    i.add_argument("checkpoint", help=".pth file (read with weights_only=True)")
    i.add_argument("--name", required=True)
    i.add_argument("--out", default=None, help="weights folder (default: the first of NST_WEIGHTS_DIR, else weights/)")
    i.add_argument("--display-name")
    i.add_argument("--artist", default="")
    i.add_argument("--title", default="")
    i.add_argument("--style-image", help="file name of the painting it was trained on (recorded, not read)")
    i.add_argument("--force", action="store_true", help="replace an installed style of the same name")
    return p


def _add_option_groups(s: argparse.ArgumentParser) -> None:
    """The options of both methods, generated from GatysOptions' and FastOptions' fields: those both have on the
    command itself, then a group per method; every default stays None (see `_options`)."""
    shared = set(option_names(GatysOptions)) & set(option_names(FastOptions))
    for f in fields(GatysOptions):
        if f.name in shared:  # the method's own range applies (its error names the --flag: see `main`)
            add_argument(s, f, checked=False, help=_shared_help(f.name))
    g = s.add_argument_group("gatys")
    add_arguments(g, GatysOptions, skip=shared)
    g.add_argument("--init-image", metavar="PATH", help="start from this picture (implies --init image)")
    g.add_argument("--vgg-weights", metavar="PATH", help="alias of --loss-net-weights for VGG")
    f = s.add_argument_group("fast")
    add_arguments(f, FastOptions, skip=shared)
    add_arguments(s.add_argument_group("arbitrary"), ArbitraryOptions, skip=set(option_names(FastOptions)) | set(
        option_names(GatysOptions)))  # fmt: skip
    f.add_argument(
        "--stabilize",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="video: blend each frame with the previous one along the motion, so strokes do not flicker (default on)",
    )


def _shared_help(name: str) -> str | None:
    """The help of an option of both methods, with each method's range where it has one."""
    spans = [f"{shown(r[0])} to {shown(r[1])} ({label})" for label, cls in (("gatys", GatysOptions),
             ("fast", FastOptions), ("arbitrary", ArbitraryOptions)) if (r := field_range(cls, name))]  # fmt: skip
    text = field_help(GatysOptions, name)
    return "; ".join([text, *spans]) if spans and text else text


def _options(a: argparse.Namespace) -> dict:
    """Only what the user set, so the dataclass defaults (device-aware) stay the single source of truth."""
    if a.vgg_weights and a.loss_net_weights:
        raise OptionsError("give either --vgg-weights or --loss-net-weights, not both.")
    if a.vgg_weights:
        a.loss_net_weights = a.vgg_weights
    names = {*option_names(GatysOptions), *option_names(FastOptions), *option_names(ArbitraryOptions)}
    names -= {"style_blend"}  # a stylize() argument
    return {k: getattr(a, k) for k in sorted(names) if getattr(a, k) is not None}


def _check_combination(a: argparse.Namespace) -> None:
    """Mistakes in how the options fit together, said in the command line's own words (the API's messages
    speak of style='NAME')."""
    if a.style and a.style_image:
        raise OptionsError("give --style NAME (a fast style) or --style-image PAINTING (Gatys), not both")
    if not a.style and not a.style_image:
        raise OptionsError("choose a style: --style NAME (see `python -m nst_core styles`) or --style-image PAINTING")
    method = a.method or ("gatys" if a.style_image else "fast")
    if method == "fast" and not a.style:
        raise OptionsError("--method fast needs --style NAME (see `python -m nst_core styles`)")
    if method in ("gatys", "arbitrary") and not a.style_image:
        raise OptionsError(f"--method {method} needs --style-image PAINTING (a fast --style is not a painting)")
    if len(a.style) > 1 and not a.mask:
        raise OptionsError("several --style need a --mask saying where each goes")
    if a.invert_mask and not a.mask:
        raise OptionsError("--invert-mask needs a --mask")
    if method == "fast" and (a.style_blend is not None or a.init_image):
        raise OptionsError("--style-blend and --init-image are for Gatys (--style-image); a fast style runs as is")


def _is_gif(path: str) -> bool:
    """A GIF that is no animation (one frame, or broken after its header) asked for as .gif: say it is a still."""
    with open(path, "rb") as fh:
        return fh.read(4) == b"GIF8"


def _is_clip(a: argparse.Namespace) -> bool:
    """Whether CONTENT is a video or an animation, judged by its bytes; a file that is neither but was named as
    one (either side) is refused here in video words rather than as a broken picture."""
    media = detect_media(a.content)
    if media.kind in ("video", "animation"):
        return True
    named = {Path(a.content).suffix.lower(), Path(a.output).suffix.lower()} & set(VIDEO_OUTPUTS)
    if media.kind == "unknown" and named:
        raise not_a_video(a.content, Path(a.content).name)
    out = Path(a.output).suffix.lower()
    if media.kind == "image" and (out in VIDEO_OUTPUTS or (out == ".gif" and _is_gif(a.content))):
        raise OptionsError(f"{Path(a.content).name} is a still picture; write it as .png, .jpg or .webp")
    return False


def _cmd_stylize(a: argparse.Namespace) -> int:
    _check_combination(a)
    if Path(a.content).is_file() and _is_clip(a):
        return _cmd_stylize_clip(a)
    output_format(a.output, quality=a.quality)  # fail now, not after a ten-minute run
    on_progress, close = _progress_bar(a)
    try:
        result = stylize(
            a.content,
            (a.style[0] if len(a.style) == 1 else a.style) or None,
            method=a.method,
            mask=a.mask,
            invert_mask=a.invert_mask,
            style_images=a.style_image,
            style_blend=a.style_blend,
            init_image=a.init_image,
            callback=on_progress,
            **_options(a),
        )
    finally:
        close()
    save_image(result, a.output, quality=a.quality)
    print(f"wrote {a.output} ({result.width}x{result.height})")
    return 0


def _cmd_stylize_clip(a: argparse.Namespace) -> int:
    """A video or an animation: a fast style, or paintings through the arbitrary-style network (Gatys is for
    pictures); same kind of file out (see nst_core.video)."""
    if a.style_image and a.method == "gatys":
        raise OptionsError("--method gatys is for pictures; videos and animations take --style NAME or "
                           "--style-image with --method arbitrary (the default for clips)")  # fmt: skip
    unused = [flag for flag, v in (("--stroke-scale", a.stroke_scale), ("--tile-size", a.tile_size), ("--mask", a.mask))
              if v is not None]  # fmt: skip
    if unused:
        raise OptionsError(f"{', '.join(unused)} is for pictures, not videos")
    on_progress, close = _progress_bar(a)
    opts = {k: getattr(a, k) for k in ("strength", "size", "preserve_colors", "device", "precision")}
    try:
        r = stylize_video(
            a.content, a.output, a.style[0] if a.style else None, style_images=[load_image(p) for p in a.style_image],
            style_blend=a.style_blend, stabilize=a.stabilize, callback=on_progress,
            **{k: v for k, v in opts.items() if v is not None},
        )  # fmt: skip
    finally:
        close()
    rate = f" at {float(r.fps):g} fps" if r.fps else ""
    sound = ", sound kept" if r.audio else ""
    print(f"wrote {a.output} ({r.frames} frames{rate}, {r.width}x{r.height}{sound})")
    return 0


def _progress_bar(a: argparse.Namespace):
    """A tqdm bar fed by Progress records (steps or frames), and the function that closes it."""
    bar: tqdm | None = None

    def on_progress(p: Progress) -> None:
        nonlocal bar
        if a.quiet:
            return
        if bar is None:
            bar = tqdm(total=p.total, unit=p.unit, dynamic_ncols=True, file=sys.stderr)
        bar.total = p.total
        bar.n = p.step
        if p.losses:
            bar.set_postfix({k: f"{v:.3g}" for k, v in p.losses.items()}, refresh=False)
        if p.scales > 1:
            bar.set_description(f"scale {p.scale}/{p.scales} {p.size[0]}x{p.size[1]}", refresh=False)
        bar.refresh()

    def close() -> None:
        if bar is not None:
            bar.close()

    return on_progress, close


def _cmd_styles(_: argparse.Namespace) -> int:
    styles = list_styles()
    if not styles:
        print("No styles installed. Train one with `python -m nst_core.train` or set NST_WEIGHTS_DIR.")
        return 0
    width = max(len(s.name) for s in styles)
    for s in styles:
        note = s.meta.get("notes", "")
        print(f"{s.name:<{width}}  {s.label}" + (f"  [{note}]" if note else ""))
    return 0


def _cmd_import(a: argparse.Namespace) -> int:
    meta = {"display_name": a.display_name, "artist": a.artist, "title": a.title}
    if a.style_image:
        meta["style_image"] = Path(a.style_image).name  # a name, not a local path, in shipped metadata
    out = check_writable_dir(a.out or weights_dirs()[0], "--out")
    if not a.force:
        check_name_free(validate_name(a.name), out)
    path = import_torch_checkpoint(a.checkpoint, a.name, out, meta=meta)
    print(f"imported {a.checkpoint} as style {a.name!r} -> {path}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as e:  # a mistyped option (one line already printed) or --help
        return int(e.code or 0)
    handler = {"stylize": _cmd_stylize, "styles": _cmd_styles, "import-style": _cmd_import}[args.command]
    try:
        with spelled(cli_flag):  # the engines' messages name --size, not size=
            return handler(args)
    except NSTError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
