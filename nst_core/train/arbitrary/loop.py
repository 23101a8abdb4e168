"""`train(cfg)`: the arbitrary-style network's training, top to bottom.

Phase 1 distils the student encoder from VGG-19: through 1x1 embedding heads its four levels must predict
VGG-19's relu1_1..relu4_1 on photo and painting crops. Phase 2 freezes the encoder and trains one decoder per
level to invert it: pixels and encoder features of the reconstruction (Li et al. 2017), plus, with
`stylised_weight`, features whitened and coloured with a painting decoded so that the encoder finds them again and
sees the painting's feature statistics at the finer levels (the AdaIN training signal, with the student as its
own loss network). Neither phase needs the held-out paintings, or any painting at all.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from ...arbitrary.network import LEVELS, VGG_LAYERS, ArbitraryConfig, ArbitraryNet, EmbeddingHeads
from ...arbitrary.transform import affine_map, apply_map, feature_stats
from ...device import make_profile, torch_threads
from ...errors import OptionsError
from ...lossnets import load_loss_net
from ..config import RANDOM_WEIGHTS
from ..state import load_checkpoint, save_checkpoint, seed_everything
from .config import ArbitraryTrainConfig
from .data import CropStream
from .output import write_network, write_sheet

CHECKPOINT = "checkpoint.pt"


def _nmse(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Mean squared error over the target's mean square: the same scale at every level and for every net."""
    a, b = a.float(), b.float()
    return (a - b).pow(2).mean() / (b.pow(2).mean() + 1e-8)


def _lr(cfg: ArbitraryTrainConfig, step: int) -> float:
    """Within each phase: a linear warm-up over `warmup_steps`, then cosine from lr to lr/10."""
    start, length = (0, cfg.distill_steps) if step < cfg.distill_steps else (cfg.distill_steps, cfg.decoder_steps)
    t = (step - start) / max(length, 1)
    warm = min(1.0, (step - start + 1) / cfg.warmup_steps) if cfg.warmup_steps else 1.0
    return warm * cfg.lr * (0.1 + 0.45 * (1 + math.cos(math.pi * t)))


def dead_channels(feats: list[torch.Tensor]) -> dict[str, torch.Tensor]:
    """Per level, the share of the student's channels that are zero everywhere on the batch: a ReLU channel
    that never fires gets no gradient and stays dead, so this is the capacity distillation has lost."""
    return {f"dead{lv}": (f.detach().flatten(2).amax(2).amax(0) <= 0).float().mean() for lv, f in enumerate(feats, 1)}


def _unit(t: torch.Tensor) -> torch.Tensor:
    """The teacher's features at unit RMS: Caffe VGG-19 activations run to the thousands at relu4_1, which the
    heads would take many steps to reach (the loss itself is scale-free; the optimiser is not)."""
    t = t.float()
    return t / t.pow(2).mean().sqrt().clamp_min(1e-8)


def distill_loss(
    net: ArbitraryNet, heads: EmbeddingHeads, teacher, x: torch.Tensor, profile
) -> dict[str, torch.Tensor]:
    with profile.autocast():
        with torch.no_grad():
            t = teacher(x, list(VGG_LAYERS.values()))
        feats = net.encoder(x, max(LEVELS))
        h = heads(feats)
    terms = {f"d{lv}": _nmse(h[lv - 1], _unit(t[VGG_LAYERS[lv]])) for lv in LEVELS}
    terms["loss"] = sum(terms.values()) / len(LEVELS)
    return {**terms, **dead_channels(feats)}


def _painted_targets(content: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
    """Each content feature map whitened and coloured with the style map at the same batch position."""
    out = []
    for c, s in zip(content.float(), style.float(), strict=True):
        a, b = affine_map(feature_stats(c[None]), [feature_stats(s[None])], [1.0], 1.0)
        out.append(apply_map(c[None], a, b))
    return torch.cat(out)


def _moments(f: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    f = f.float().flatten(2)
    return f.mean(2), f.std(2)


def decoder_loss(net: ArbitraryNet, x: torch.Tensor, styles: torch.Tensor, cfg: ArbitraryTrainConfig, profile):
    with torch.no_grad(), profile.autocast():
        feats, sfeats = net.encoder(x, 4), net.encoder(styles, 4)
    terms: dict[str, torch.Tensor] = {}
    for lv in LEVELS:
        with profile.autocast():
            y = net.decode(feats[lv - 1], lv)
            fy = net.encoder(y, lv)
        feat = sum(_nmse(fy[k], feats[k]) for k in range(lv)) / lv
        terms[f"r{lv}"] = (y.float() - x).pow(2).mean() + cfg.feature_weight * feat
        if cfg.stylised_weight > 0:
            target = _painted_targets(feats[lv - 1], sfeats[lv - 1]).to(feats[lv - 1].dtype)
            with profile.autocast():
                fz = net.encoder(net.decode(target, lv), lv)
            stats = 0.0
            for k in range(lv):
                (m1, s1), (m2, s2) = _moments(fz[k]), _moments(sfeats[k])
                scale = m2.pow(2).mean() + s2.pow(2).mean() + 1e-8
                stats = stats + ((m1 - m2).pow(2).mean() + (s1 - s2).pow(2).mean()) / scale
            terms[f"p{lv}"] = _nmse(fz[-1], target) + stats / lv
    recon = sum(v for k, v in terms.items() if k[0] == "r")
    painted = sum((v for k, v in terms.items() if k[0] == "p"), torch.zeros(()))
    terms["loss"] = recon + cfg.stylised_weight * painted
    return terms


def _start(cfg: ArbitraryTrainConfig, net, heads, opts, log) -> tuple[int, float]:
    path = Path(cfg.run_dir) / CHECKPOINT
    if not path.exists() or cfg.overwrite:
        return 0, 0.0
    if not cfg.resume:
        raise OptionsError(f"{path} holds a checkpoint: pass --resume to continue it or --overwrite to start afresh")
    ckpt = load_checkpoint(path)
    if ckpt["channels"] != cfg.channels:
        raise OptionsError(f"the checkpoint has --channels {ckpt['channels']}, not {cfg.channels}")
    net.load_state_dict(ckpt["net"])
    heads.load_state_dict(ckpt["heads"])
    for opt, state in zip(opts, ckpt["opts"], strict=True):
        opt.load_state_dict(state)
    log(f"resumed at step {ckpt['step']} ({ckpt['elapsed'] / 60:.1f} min trained so far)")
    return ckpt["step"], ckpt["elapsed"]


def _checkpoint(cfg, net, heads, opts, step: int, elapsed: float) -> None:
    state = {"step": step, "elapsed": elapsed, "channels": cfg.channels, "config": asdict(cfg),
             "net": net.state_dict(), "heads": heads.state_dict(), "opts": [o.state_dict() for o in opts]}  # fmt: skip
    save_checkpoint(Path(cfg.run_dir) / CHECKPOINT, state)


def train(cfg: ArbitraryTrainConfig) -> dict[str, Any]:
    cfg.validate()
    with torch_threads(cfg.threads):
        return _train(cfg)


def _train(cfg: ArbitraryTrainConfig) -> dict[str, Any]:
    seed_everything(cfg.seed)
    profile = make_profile(cfg.device, cfg.precision, cfg.memory_format)
    Path(cfg.run_dir).mkdir(parents=True, exist_ok=True)
    data = CropStream(cfg.dataset, cfg.paintings, cfg.image_size, cfg.painting_fraction, cfg.seed)
    net = ArbitraryNet(ArbitraryConfig(cfg.widths(), cfg.levels())).to(
        profile.device, memory_format=profile.memory_format
    )
    heads = EmbeddingHeads(net.config).to(profile.device, memory_format=profile.memory_format)
    opts = [torch.optim.Adam([*net.encoder.parameters(), *heads.parameters()], lr=cfg.lr),
            torch.optim.Adam(net.decoders.parameters(), lr=cfg.lr)]  # fmt: skip
    step, elapsed = _start(cfg, net, heads, opts, tqdm.write)
    teacher = None
    if step < cfg.distill_steps:
        random = cfg.vgg_weights == RANDOM_WEIGHTS  # tests and smoke runs: a seeded random teacher
        teacher = load_loss_net("vgg19", None if random else cfg.vgg_weights, device=profile.device,
                                layers=list(VGG_LAYERS.values()), pretrained=not random)  # fmt: skip
    tqdm.write(f"{len(data.photos)} photos, {len(data.paintings)} paintings; {profile.describe()} on "
               f"{profile.device}; steps {step}/{cfg.total_steps}")  # fmt: skip
    bar = tqdm(total=cfg.total_steps, initial=step, unit="step", dynamic_ncols=True)
    began, last_ckpt, logged = time.monotonic(), time.monotonic(), {}
    while step < cfg.total_steps:
        crops, styles = (profile.format(t.to(profile.device).float() / 255) for t in data.batch(step, cfg.batch_size))
        distilling = step < cfg.distill_steps
        net.encoder.requires_grad_(distilling)
        opt = opts[0] if distilling else opts[1]
        for group in opt.param_groups:
            group["lr"] = _lr(cfg, step)
        terms = distill_loss(net, heads, teacher, crops, profile) if distilling else decoder_loss(
            net, crops, styles, cfg, profile)  # fmt: skip
        opt.zero_grad(set_to_none=True)
        terms["loss"].backward()
        opt.step()
        step += 1
        bar.update(1)
        if step % cfg.log_every == 0:
            logged = {k: round(float(v.detach()), 4) for k, v in terms.items()}
            bar.set_postfix(phase="encoder" if distilling else "decoders", **logged)
        now = time.monotonic()
        if cfg.sheet_every and step % cfg.sheet_every == 0:
            write_sheet(net, data, profile, Path(cfg.run_dir) / f"sheet_{step:06d}.jpg")
        over = cfg.max_minutes is not None and now - began > cfg.max_minutes * 60
        if now - last_ckpt > cfg.checkpoint_minutes * 60 or over or step == cfg.total_steps:
            _checkpoint(cfg, net, heads, opts, step, elapsed + now - began)
            last_ckpt = now
        if over:
            tqdm.write(f"time budget reached at step {step}: checkpoint written; continue with --resume")
            break
    bar.close()
    total = elapsed + time.monotonic() - began
    return write_network(net, cfg, step, total, data, logged)
