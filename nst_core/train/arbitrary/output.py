"""What a run leaves: the shipped network (safetensors + a JSON record) and preview sheets along the way."""

from __future__ import annotations

import hashlib
import json
import random
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from ...arbitrary.model_file import save_network
from ...arbitrary.network import ArbitraryNet
from ...arbitrary.paint import paint, style_statistics
from ...atomic import atomic_write
from ...device import DeviceProfile, cpu_model, device_label
from .config import ArbitraryTrainConfig
from .data import CropStream

SHEET_PHOTOS, SHEET_PAINTINGS, SHEET_SIZE = 3, 3, 192


def _sha256(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _portable(cfg: ArbitraryTrainConfig) -> dict[str, Any]:
    """The config with file paths reduced to names (no local paths in shipped metadata)."""
    d = {k: v for k, v in vars(cfg).items() if k != "command"}
    for key in ("dataset", "out", "run_dir", "vgg_weights"):
        if d.get(key):
            d[key] = Path(d[key]).name
    d["paintings"] = [Path(p).name for p in cfg.paintings]
    return d


def write_network(net: ArbitraryNet, cfg: ArbitraryTrainConfig, step: int, seconds: float, data: CropStream,
                  last_losses: dict[str, float]) -> dict[str, Any]:  # fmt: skip
    """The weights at `cfg.out` and NAME.json beside them: command, data, time and the last losses."""
    record = {
        "method": "arbitrary (WCT cascade on a distilled student encoder)",
        "command": cfg.command,
        "config": _portable(cfg),
        "steps_done": step,
        "steps_planned": cfg.total_steps,
        "train_seconds": round(seconds, 1),
        "hardware": device_label(torch.device(cfg.device)) if cfg.device not in ("auto", "cpu") else cpu_model(),
        "photos": len(data.photos),
        "paintings": [{"file": Path(p).name, "sha256": _sha256(p)} for p in cfg.paintings],
        "last_losses": last_losses,
        "written": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    out = Path(cfg.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    save_network(net, out)
    sidecar = out.with_suffix(".json")
    old = json.loads(sidecar.read_text()) if sidecar.exists() else {}
    record["scores"] = old.get("scores", {})  # the quality bench's figures survive a retrain until re-judged
    text = json.dumps(record, indent=2, default=str) + "\n"
    atomic_write(sidecar, lambda tmp: Path(tmp).write_text(text))
    return record


def _pil(x: torch.Tensor) -> Image.Image:
    arr = (x[0].float().clamp(0, 1).permute(1, 2, 0).cpu().numpy() * 255).round().astype(np.uint8)
    return Image.fromarray(arr)


def write_sheet(net: ArbitraryNet, data: CropStream, profile: DeviceProfile, path: Path) -> None:
    """Rows: a few fixed photos; columns: the photo, its reconstruction from the cascade's first level, then
    painted with the first
    paintings (or with other photos when training without paintings)."""
    rng = random.Random(0)
    photos = [data._photo(rng) for _ in range(SHEET_PHOTOS)]
    styles = data.paintings[:SHEET_PAINTINGS] or [data._photo(rng) for _ in range(SHEET_PAINTINGS)]
    to_t = [torch.from_numpy(np.asarray(p.resize((SHEET_SIZE, SHEET_SIZE)), dtype=np.float32) / 255)
            .permute(2, 0, 1)[None] for p in photos]  # fmt: skip
    stats = [style_statistics(net, torch.from_numpy(np.asarray(s.resize((256, 256)), dtype=np.float32) / 255)
                              .permute(2, 0, 1)[None], profile) for s in styles]  # fmt: skip
    net.eval()
    rows = []
    for t in to_t:
        row = [_pil(t), _pil(paint(net, t, [stats[0]], [1.0], 0.0, profile, levels=net.config.cascade[:1]))]
        row += [_pil(paint(net, t, [s], [1.0], 1.0, profile)) for s in stats]
        rows.append(row)
    net.train()
    sheet = Image.new("RGB", (SHEET_SIZE * len(rows[0]), SHEET_SIZE * len(rows)))
    for r, row in enumerate(rows):
        for c, img in enumerate(row):
            sheet.paste(img, (c * SHEET_SIZE, r * SHEET_SIZE))
    sheet.save(path, quality=88)
