"""The end of a run: evaluate on the held-out photos, write the style's metadata, install it in the registry.

The style's JSON says everything the run was trained with (the whole config, the loss network, the data, the
time it took), with file paths reduced to their names: no local paths in shipped metadata.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from PIL import Image
from torch import nn

from .. import styles
from ..device import DeviceProfile
from ..errors import ImageError, OptionsError
from ..fast.inference import apply_model
from ..images import load_image
from ..losses import PerceptualLoss
from .config import BUILTIN_PREVIEW, RANDOM_WEIGHTS, TrainConfig
from .state import Stats

if TYPE_CHECKING:
    from .loop import End, Run


def load_preview_content(cfg: TrainConfig) -> Image.Image | None:
    """The photo the registry preview is rendered from: None for the built-in scene or a held-out photo.
    Read at the start, so a missing --preview-image fails before training, not after it."""
    if not cfg.preview_image or cfg.preview_image == BUILTIN_PREVIEW:
        return None
    try:
        return load_image(cfg.preview_image)
    except ImageError as e:
        raise OptionsError(f"--preview-image: {e}") from None


def portable_command(argv: Sequence[str]) -> str:
    """How this run was started, file paths reduced to their names (no local paths in shipped metadata)."""

    def name(arg: str) -> str:
        flag, eq, value = arg.rpartition("=") if arg.startswith("--") and "=" in arg else ("", "", arg)
        return flag + eq + (Path(value).name if os.sep in value else value)

    args = [name(a) for a in argv]
    return " ".join(["python -m nst_core.train", *args])


def portable_config(cfg: TrainConfig) -> dict[str, Any]:
    """The config for the style's JSON: file paths reduced to names (no local paths in shipped metadata)."""
    d = asdict(cfg)
    for key in ("style_image", "dataset", "loss_net_weights", "preview_image", "out", "run_dir", "init_from"):
        if d.get(key) and d[key] not in (RANDOM_WEIGHTS, BUILTIN_PREVIEW):
            d[key] = Path(d[key]).name
    return d


@torch.no_grad()
def stylise(model: nn.Module, x_uint8: torch.Tensor, profile: DeviceProfile) -> torch.Tensor:
    """Run the net on a uint8 batch; returns float 0..255 (clamped) on the CPU."""
    with profile.autocast():
        y = model(profile.format(x_uint8.to(profile.device).float()))
    return y.float().clamp(0, 255).cpu()


def preview_grid(model: nn.Module, val: torch.Tensor, profile: DeviceProfile) -> Image.Image:
    """Held-out photos on the top row, their stylisations below."""
    photos = [Image.fromarray(x.permute(1, 2, 0).numpy()) for x in val[:4]]
    w, h = photos[0].size
    grid = Image.new("RGB", (w * len(photos), 2 * h))
    for i, photo in enumerate(photos):
        grid.paste(photo, (i * w, 0))
        grid.paste(apply_model(model, photo, profile=profile), (i * w, h))
    return grid


@torch.no_grad()
def evaluate(
    model: nn.Module, criterion: PerceptualLoss, val: torch.Tensor, batch_size: int, profile: DeviceProfile
) -> dict[str, float]:
    """Mean unweighted content/style/tv terms and weighted total over held-out photos (outputs clamped)."""
    sums: dict[str, float] = {}
    for i in range(0, len(val), batch_size):
        x = profile.format(val[i : i + batch_size].to(profile.device).float())
        y = profile.format(stylise(model, x, profile).to(profile.device))
        with profile.autocast():
            total, terms = criterion(y / 255, criterion.content_targets(x / 255))
        for k, v in {**terms, "total": total}.items():
            sums[k] = sums.get(k, 0.0) + float(v) * len(x)
    return {k: v / len(val) for k, v in sums.items()}


def save_preview(model: nn.Module, val: torch.Tensor, profile: DeviceProfile, run_dir: Path, step: int) -> None:
    """A preview grid in RUN_DIR/previews, to watch the style emerge."""
    folder = run_dir / "previews"
    folder.mkdir(parents=True, exist_ok=True)
    preview_grid(model, val, profile).save(folder / f"step_{step:07d}.jpg", quality=90)


def install(run: Run, end: End, stats: Stats, preview_content: Image.Image | None) -> dict[str, Any]:
    """Evaluate, write NAME.safetensors + NAME.json into the registry, say where; returns the run's summary."""
    cfg, val = run.cfg, run.val
    run.raw_model.eval()
    evaluation = evaluate(run.raw_model, run.criterion, val, cfg.batch_size, run.profile) if val is not None else {}
    if preview_content is None and not cfg.preview_image and val is not None:
        preview_content = Image.fromarray(val[0].permute(1, 2, 0).numpy())  # a held-out photo
    weights_path = styles.save_style(
        run.raw_model.float().to(memory_format=torch.contiguous_format).cpu(),
        cfg.name,
        run.places.out,
        metadata(run, end, stats, evaluation),
        preview_content=preview_content,
    )
    styles.clear_cache()
    summary = {
        "weights": str(weights_path),
        "steps": end.step,
        "images_per_s": stats.images_per_s(),
        "eval": evaluation,
        "final_losses": stats.losses,
        "skipped": run.photos.skipped + len(run.unreadable),
        "run_dir": str(run.places.run),
    }
    _say_installed(run, weights_path, summary)
    return summary


def metadata(run: Run, end: End, stats: Stats, evaluation: dict[str, float]) -> dict[str, Any]:
    """The style's JSON: what it is, and everything it was trained with."""
    cfg, held_out = run.cfg, 0 if run.val is None else len(run.val)
    return {
        "display_name": cfg.display_name,  # None: the registry's default, from the name
        "artist": cfg.artist,
        "title": cfg.title,
        "style_image": Path(cfg.style_image).name,
        "method": "feed-forward (Johnson et al. 2016), normalised perceptual loss",
        "command": cfg.command,
        "training": {k: v for k, v in portable_config(cfg).items() if k != "command"},
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "device": run.ranks.label(),
        "steps": end.step,
        "planned_steps": run.total_steps,
        "stopped_early": end.stopped_early,
        "images_seen": stats.images,
        "train_seconds": round(stats.train_seconds, 1),
        "images_per_s": round(stats.images_per_s(), 3),
        "dataset": {
            "name": run.photos.root.resolve().name,
            "train_images": len(run.photos.train),
            "held_out": held_out,
            "skipped_unreadable": run.photos.skipped + len(run.unreadable),
        },
        "loss_net": {
            "name": cfg.loss_net,
            "weights": run.criterion.net.source.split("/")[-1],
            "convention": run.criterion.net.convention,
            "content_layers": list(run.criterion.content_layers),
            "style_layers": list(run.criterion.style_layers),
        },
        "init_from": run.start.history,
        "final_losses": {k: round(v, 6) for k, v in stats.losses.items()},
        "eval": {"held_out_images": held_out, **{k: round(v, 6) for k, v in evaluation.items()}},
        "notes": cfg.notes,
    }


def _say_installed(run: Run, weights_path: Path, summary: dict[str, Any]) -> None:
    """Where the style went, how to use it when that folder is not searched, the throughput and the evaluation."""
    cfg, out, evaluation = run.cfg, run.places.out, summary["eval"]
    print(f"\nstyle {cfg.name!r} installed: {weights_path}", file=sys.stderr)
    if not any(_same_dir(out, d) for d in styles.weights_dirs()):
        print(
            f"{out} is not searched for styles: to use it, set {styles.WEIGHTS_ENV}={out} "
            f"(then: python -m nst_core stylize PHOTO --style {cfg.name} -o OUT.png)",
            file=sys.stderr,
        )
    print(f"throughput: {summary['images_per_s']:.2f} images/s ({run.ranks.label()})", file=sys.stderr)
    if evaluation:
        print(
            f"held-out evaluation ({len(run.val)} photos): content {evaluation['content']:.4f}  "
            f"style {evaluation['style']:.4f}  tv {evaluation['tv']:.5f}  weighted total "
            f"{evaluation['total']:.4f}",
            file=sys.stderr,
        )


def _same_dir(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return False
