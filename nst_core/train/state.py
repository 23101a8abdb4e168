"""What a run carries from one session to the next: RNG states, checkpoints, and where a run starts.

A checkpoint holds the model, the optimiser, the step, the config, every RNG state and the measured statistics;
with the data stream a pure function of (seed, step), `--resume` after a crash or a kill gives bit for bit the
weights an uninterrupted run gives (on CPU; cuDNN is not bitwise stable). A resume whose settings would change
the result is refused, naming each one.
"""

from __future__ import annotations

import contextlib
import json
import random
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .. import styles
from ..atomic import atomic_write
from ..errors import OptionsError, WeightsError
from ..fast.transformer_net import TransformerConfig
from ..safeload import torch_load
from .config import ARCHS, RUN_ONLY_FIELDS, TrainConfig
from .dist import Ranks

CHECKPOINT_NAME = "checkpoint.pt"


def capture_rng(device: torch.device) -> dict[str, Any]:
    """RNG states as tensors and plain types, so the checkpoint loads with weights_only=True."""
    _, np_key, np_pos, np_has_gauss, np_gauss = np.random.get_state()
    py_version, py_state, py_gauss = random.getstate()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {
            "key": torch.from_numpy(np_key.astype(np.int64)),
            "pos": int(np_pos),
            "has_gauss": int(np_has_gauss),
            "gauss": float(np_gauss),
        },
        "python": {"version": int(py_version), "state": torch.tensor(py_state, dtype=torch.int64), "gauss": py_gauss},
    }
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def restore_rng(state: dict[str, Any], device: torch.device) -> None:
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state(("MT19937", n["key"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"]))
    p = state["python"]
    random.setstate((p["version"], tuple(int(v) for v in p["state"].tolist()), p["gauss"]))
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Atomic and fsynced: a kill leaves the old checkpoint or the new one."""
    atomic_write(path, lambda tmp: torch.save(state, tmp))


def load_checkpoint(path: Path) -> dict[str, Any]:
    try:
        return torch_load(path, "training checkpoint")
    except WeightsError as e:
        raise WeightsError(f"{e}; delete it or pass --overwrite to start afresh") from None


def seed_everything(seed: int) -> None:
    """torch, Python and NumPy: the network's initial weights come from these."""
    torch.manual_seed(seed)
    random.seed(seed)
    np.random.seed(seed)


@dataclass
class Stats:
    """What the run measured: smoothed losses, and time and images over all sessions and over this one."""

    losses: dict[str, float] = field(default_factory=dict)
    train_seconds: float = 0.0
    images: int = 0
    session_seconds: float = 0.0
    session_images: int = 0

    @classmethod
    def resumed(cls, checkpoint: dict[str, Any] | None) -> Stats:
        saved = checkpoint["stats"] if checkpoint else {}
        return cls(dict(saved.get("losses", {})), float(saved.get("train_seconds", 0.0)), int(saved.get("images", 0)))

    def saved(self) -> dict[str, Any]:
        return {"losses": dict(self.losses), "train_seconds": self.train_seconds, "images": self.images}

    def add_losses(self, values: dict[str, float]) -> None:
        """An exponential moving average: the logged losses of single batches are noisy."""
        ema = self.losses
        self.losses = {k: v if k not in ema else 0.8 * ema[k] + 0.2 * v for k, v in values.items()}

    def add_step(self, seconds: float, images: int) -> None:
        self.session_seconds, self.session_images = self.session_seconds + seconds, self.session_images + images
        self.train_seconds, self.images = self.train_seconds + seconds, self.images + images

    def images_per_s(self) -> float:
        """This session's throughput; a resumed run that had nothing left to do keeps its sessions' one."""
        if self.session_seconds:
            return self.session_images / self.session_seconds
        return self.images / max(self.train_seconds, 1e-9)


@dataclass(frozen=True)
class Places:
    """Where a run writes: the registry folder it installs into, and its own folder of checkpoints and previews."""

    out: Path
    run: Path

    @property
    def checkpoint(self) -> Path:
        return self.run / CHECKPOINT_NAME


def places(cfg: TrainConfig, master: bool) -> Places:
    """Every output place is checked before any work: no run dies at its end for a typo in --out."""
    where = Places(
        Path(cfg.out) if cfg.out else styles.weights_dirs()[0],
        Path(cfg.run_dir) if cfg.run_dir else Path("runs") / cfg.name,
    )
    if master:
        styles.check_writable_dir(where.out, "--out")
        styles.check_writable_dir(where.run, "--run-dir")
    return where


@dataclass(frozen=True)
class Start:
    """Where a run starts: a checkpoint to continue, a trained style's weights to fine-tune, or neither (random
    weights). `history` is the --init-from style's own training, for the new style's JSON."""

    checkpoint: dict[str, Any] | None
    weights: dict[str, torch.Tensor] | None
    history: dict[str, Any] | None

    @property
    def step(self) -> int:
        return int(self.checkpoint["step"]) if self.checkpoint else 0


def starting_point(cfg: TrainConfig, where: Places, ranks: Ranks, log: Callable[[str], None]) -> Start:
    """Read before anything is built: the start decides the network (`cfg.arch` is settled here) and where the
    data stream starts."""
    ckpt = _read_checkpoint(where, cfg, log)
    if ckpt is not None:
        cfg.arch = ckpt["config"]["arch"] if cfg.arch == "auto" else cfg.arch
        check_resumable(ckpt, cfg, ranks.world_size, log)
        return Start(ckpt, None, ckpt.get("init_from"))  # its weights and history already
    if cfg.init_from:
        config, weights, history = _initial_weights(cfg.init_from)
        cfg.arch = _arch_of(config, cfg.arch)
        return Start(None, weights, history)
    if cfg.arch == "auto":
        cfg.arch = "reference" if ranks.device.type == "cuda" else "light"
    return Start(None, None, None)


def _read_checkpoint(where: Places, cfg: TrainConfig, log: Callable[[str], None]) -> dict[str, Any] | None:
    """The checkpoint to continue with --resume; an existing one is never overwritten without --overwrite."""
    if where.checkpoint.is_file():
        if cfg.resume:
            return load_checkpoint(where.checkpoint)
        if not cfg.overwrite:
            raise OptionsError(
                f"{where.checkpoint} exists: pass --resume to continue it or --overwrite to start afresh."
            )
    elif cfg.resume:
        log(f"nothing to resume in {where.run}; starting afresh")
    return None


def _initial_weights(source: str) -> tuple[TransformerConfig, dict[str, torch.Tensor], dict[str, Any]]:
    """Config, weights and training history of --init-from: a .safetensors file, else a registry style name.

    The history (the start's own steps, time and settings, from its JSON when there is one) goes into the new
    style's JSON, so a fine-tuned style still says everything it was trained with."""
    path = Path(source)
    if path.suffix != ".safetensors":
        path = styles.get_style(source).weights_path
    elif not path.is_file():
        raise OptionsError(f"--init-from: no such file {source!r}.")
    config, state = styles.read_style_weights(path)
    history: dict[str, Any] = {"weights": path.name}
    with contextlib.suppress(OSError, ValueError):
        meta = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
        keep = ("name", "date", "command", "device", "steps", "images_seen", "train_seconds", "training", "init_from")
        history.update({k: meta[k] for k in keep if isinstance(meta, dict) and k in meta})
    return config, state, history


def _arch_of(config: TransformerConfig, wanted: str) -> str:
    """The ARCHS name of an --init-from network; --arch, when given, must agree with it."""
    found = next((name for name, c in ARCHS.items() if c == config), None)
    if found is None:
        raise OptionsError(f"--init-from: its network ({config.to_json()}) is none of {', '.join(ARCHS)}.")
    if wanted not in ("auto", found):
        raise OptionsError(f"--init-from holds a {found} network but --arch {wanted} was asked for.")
    return found


def check_resumable(ckpt: dict[str, Any], cfg: TrainConfig, world_size: int, log: Callable[[str], None]) -> None:
    """Refuse to continue a checkpoint with settings that would change the result, naming each one."""
    saved, now = ckpt["config"], asdict(cfg)
    diffs = [
        f"{k}: checkpoint {saved[k]!r}, now {now[k]!r}"
        for k in now
        if k not in RUN_ONLY_FIELDS and k in saved and saved[k] != now[k]
    ]
    if diffs:
        raise OptionsError("Cannot --resume with different training settings:\n  " + "\n  ".join(diffs))
    for k in ("style_image", "dataset"):
        if Path(saved[k]).name != Path(now[k]).name:
            log(f"warning: {k} was {saved[k]!r}, now {now[k]!r}")
    if ckpt.get("world_size", world_size) != world_size:
        log(
            f"warning: checkpoint was trained on {ckpt['world_size']} processes, now {world_size}: "
            "the global batch changes, so the result will differ from an uninterrupted run"
        )
