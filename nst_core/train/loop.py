"""Training, top to bottom like nanoGPT's train.py: set-up, where the run starts, data, model and loss, then one
loop with "every step: train; every N steps: log / preview / checkpoint", then install the style.

The loss is `losses.PerceptualLoss` (the same scale-normalised objective as Gatys); the loss network runs in
bf16 on CUDA but hands back float32 activations, so Gram matrices are always float32.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

from .. import styles
from ..device import DeviceProfile, make_profile, torch_threads
from ..errors import NSTError
from ..fast.transformer_net import TransformerNet
from ..images import load_image, pil_to_tensor, resize_long_side
from ..losses import PerceptualLoss
from ..lossnets import LossNetSpec, get_spec, load_loss_net
from .config import ARCHS, RANDOM_WEIGHTS, TrainConfig, fill_defaults, parse_args
from .data import Photos, load_held_out, make_loader, planned_steps, scan_photos
from .dist import Ranks, StopRequest, all_ranks_agree, is_rank0, mean_over_ranks, processes, wrap
from .install import install, load_preview_content, portable_command, save_preview
from .state import (
    Places,
    Start,
    Stats,
    capture_rng,
    places,
    restore_rng,
    save_checkpoint,
    seed_everything,
    starting_point,
)

ESTIMATE_AFTER = 5  # steps measured before the run's duration is estimated and printed


class TrainingDiverged(NSTError):
    """The loss became NaN or infinite: nothing is installed and no checkpoint of the broken weights is written."""


class TrainingStopped(NSTError):
    """Raised after a requested stop; the checkpoint is saved, --resume continues."""


def train(cfg: TrainConfig, *, on_step: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Run (or resume) training and install the style; returns a summary (on rank 0; {} on other ranks).

    `on_step(step)` is called after every completed step (tests use it to simulate a crash).
    """
    cfg.validate()
    with processes(cfg.device) as ranks, torch_threads(cfg.threads):
        return _train(cfg, ranks, on_step)


def _train(cfg: TrainConfig, ranks: Ranks, on_step: Callable[[int], None] | None) -> dict[str, Any]:
    log = Log(ranks.master)
    # ---- set-up: precision, the defaults the loss net decides, every output place checked (threads: train)
    profile = make_profile(ranks.device, cfg.precision, cfg.memory_format)
    spec = get_spec(cfg.loss_net)
    content_layers = fill_defaults(cfg, spec)
    where = places(cfg, ranks.master)
    preview_content = load_preview_content(cfg)

    # ---- where the run starts: a checkpoint, a trained style, or random weights (then seeded)
    start = starting_point(cfg, where, ranks, log)
    if start.checkpoint is None and not cfg.force:  # continuing a run may replace what its earlier session installed
        styles.check_name_free(cfg.name, where.out)
    seed_everything(cfg.seed)

    # ---- data: the photos, the plan, the seeded stream from the start step on, the held-out photos
    photos = scan_photos(cfg.dataset, cfg.val_count)
    global_batch = cfg.batch_size * ranks.world_size
    total_steps = planned_steps(cfg, len(photos.train), global_batch)
    _log_plan(log, photos, start.step, total_steps, global_batch)
    loader = make_loader(photos.train, cfg, start.step, total_steps, ranks)
    val, unreadable = load_held_out(photos.val, cfg.image_size)

    # ---- model, optimiser, loss
    raw_model, optimizer, scaler = _model(cfg, start, profile, log)
    model = wrap(torch.compile(raw_model) if cfg.compile else raw_model, ranks)
    criterion = _loss(cfg, spec, content_layers, profile)
    log(
        f"{cfg.arch} TransformerNet ({raw_model.num_parameters / 1e6:.2f} M params) on {ranks.label()}, "
        f"{profile.describe()}; loss net {cfg.loss_net} ({criterion.net.source}); weights content "
        f"{cfg.content_weight:g} style {cfg.style_weight:g} tv {cfg.tv_weight:g}"
    )

    # ---- the loop, then (rank 0) evaluate and install
    run = Run(
        cfg, ranks, profile, where, start, photos, total_steps, val, unreadable,
        raw_model, model, optimizer, scaler, criterion,
    )  # fmt: skip
    stats = Stats.resumed(start.checkpoint)
    end = _loop(run, loader, stats, log, on_step)
    return install(run, end, stats, preview_content) if ranks.master else {}


@dataclass
class Run:
    """What the loop and the install work on, built by `_train`."""

    cfg: TrainConfig
    ranks: Ranks
    profile: DeviceProfile
    places: Places
    start: Start
    photos: Photos
    total_steps: int
    val: torch.Tensor | None  # held-out photos (uint8 centre crops)
    unreadable: set[str]  # files that failed to decode after the scan
    raw_model: TransformerNet  # the network itself; `model` may be compiled and DDP-wrapped around it
    model: nn.Module
    optimizer: torch.optim.Optimizer
    scaler: torch.amp.GradScaler
    criterion: PerceptualLoss

    @property
    def global_batch(self) -> int:
        return self.cfg.batch_size * self.ranks.world_size


@dataclass(frozen=True)
class End:
    """How the loop ended: its last step, and why it stopped before the plan's end ('' when it did not)."""

    step: int
    stopped_early: str


def _model(
    cfg: TrainConfig, start: Start, profile: DeviceProfile, log: Log
) -> tuple[TransformerNet, torch.optim.Optimizer, torch.amp.GradScaler]:
    """The network (seeded, or the checkpoint's, or --init-from's) and its optimiser; a resume also restores
    the optimiser and every RNG state, so the run continues exactly where it stopped."""
    device, ckpt = profile.device, start.checkpoint
    raw_model = TransformerNet(ARCHS[cfg.arch]).to(device)
    if ckpt:
        raw_model.load_state_dict(ckpt["model"])
    elif start.weights is not None:
        raw_model.load_state_dict(start.weights)
        log(f"initialised from {cfg.init_from}")
    raw_model = raw_model.to(memory_format=profile.memory_format)
    optimizer = torch.optim.Adam(raw_model.parameters(), lr=cfg.lr)
    scaler = torch.amp.GradScaler(device.type, enabled=profile.precision == "fp16")
    if ckpt:
        optimizer.load_state_dict(ckpt["optimizer"])
        restore_rng(ckpt["rng"], device)
    return raw_model, optimizer, scaler


def _loss(cfg: TrainConfig, spec: LossNetSpec, content_layers: Sequence[str], profile: DeviceProfile) -> PerceptualLoss:
    """The perceptual loss on the loss network, with the style image's Gram matrices computed once."""
    random_net = cfg.loss_net_weights == RANDOM_WEIGHTS
    net = load_loss_net(
        cfg.loss_net,
        None if random_net else cfg.loss_net_weights,
        device=profile.device,
        layers=[*content_layers, *spec.style_layers],
        pretrained=not random_net,
    )
    net = net.to(memory_format=profile.memory_format)
    criterion = PerceptualLoss.from_spec(
        net,
        content_layers=tuple(content_layers),
        content_weight=cfg.content_weight,
        style_weight=cfg.style_weight,
        tv_weight=cfg.tv_weight,
    )
    style_pil = resize_long_side(load_image(cfg.style_image), cfg.style_size)
    with profile.autocast():
        criterion.set_style([profile.format(pil_to_tensor(style_pil, profile.device))])
    return criterion


def _loop(run: Run, loader: Iterable, stats: Stats, log: Log, on_step: Callable[[int], None] | None) -> End:
    """Every step: train. Every N steps: log, preview, checkpoint. A stop on any rank (a signal, the time budget,
    a loss that is no longer finite) is a stop on every rank, at the same step."""
    cfg, ranks, total_steps = run.cfg, run.ranks, run.total_steps
    step, stopped_early = run.start.step, ""
    clock = Clock(cfg.max_minutes, cfg.checkpoint_minutes)
    log.open_bar(total_steps, step, cfg.name)
    run.model.train()
    t0 = time.perf_counter()  # throughput counts data loading, not previews/checkpoints/evaluation
    with StopRequest() as stop:
        for batch, bad in loader:
            total, terms = _train_step(run, batch)
            step += 1
            run.unreadable |= bad
            log_now = step % cfg.log_every == 0 or step == total_steps or step == run.start.step + 1
            if log_now:  # .item() syncs the GPU: only at log steps, so the queue stays full otherwise
                stats.add_losses(mean_over_ranks({**terms, "total": total}, ranks))
            # a CPU checks every step (free); a GPU at log steps (each check waits for the GPU)
            last = step == total_steps or clock.over_budget()
            diverged = (log_now or last or ranks.device.type == "cpu") and not bool(torch.isfinite(total.detach()))
            stats.add_step(time.perf_counter() - t0, run.global_batch)  # on CUDA exact over each log interval
            _report(log, run, stats, clock, step, log_now)
            if ranks.master and run.val is not None and cfg.preview_every and step % cfg.preview_every == 0:
                save_preview(run.raw_model, run.val, run.profile, run.places.run, step)
            if step == total_steps or (cfg.checkpoint_every and step % cfg.checkpoint_every == 0) or clock.due():
                _checkpoint(run, stats, step)
                clock.checkpointed()
            signalled, over_time, diverged = all_ranks_agree([stop.requested, clock.over_budget(), diverged], ranks)
            if diverged:
                log.close()
                raise TrainingDiverged(
                    f"training diverged at step {step}: the loss is no longer a finite number, so nothing was "
                    f"installed; the last good checkpoint (if any) is kept in {run.places.run}. Try a lower --lr "
                    f"(now {cfg.lr:g}) and start afresh with --overwrite"
                )
            if over_time and step < total_steps:
                _checkpoint(run, stats, step)
                stopped_early = f"time budget of {cfg.max_minutes:g} min reached at step {step} of {total_steps}"
                log(stopped_early + "; finishing (continue later with --resume)")
                break
            if signalled:
                _checkpoint(run, stats, step)
                log.close()
                log(f"stopped at step {step}; checkpoint saved in {run.places.checkpoint}. Continue with --resume.")
                raise TrainingStopped(f"Stopped at step {step}; continue with --resume.")
            if on_step is not None:
                on_step(step)
            t0 = time.perf_counter()
    log.close()
    return End(step, stopped_early)


def _train_step(run: Run, batch: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """One optimiser step on this rank's slice of the global batch; returns the loss and its terms."""
    x = run.profile.format(batch.to(run.ranks.device, non_blocking=True).float())  # RGB 0..255, what it takes
    with run.profile.autocast():
        y = run.model(x)
        total, terms = run.criterion(y.float() / 255, run.criterion.content_targets(x / 255))
    run.optimizer.zero_grad(set_to_none=True)
    run.scaler.scale(total).backward()  # fp16 only: the scaler keeps small gradients from underflowing
    run.scaler.step(run.optimizer)
    run.scaler.update()
    return total, terms


def _checkpoint(run: Run, stats: Stats, step: int) -> None:
    """Rank 0 saves everything --resume needs; weights that are no longer finite are never saved."""
    if not run.ranks.master or not all(bool(torch.isfinite(p).all()) for p in run.raw_model.parameters()):
        return
    state = {
        "model": run.raw_model.state_dict(),
        "optimizer": run.optimizer.state_dict(),
        "step": step,
        "config": asdict(run.cfg),
        "rng": capture_rng(run.ranks.device),
        "world_size": run.ranks.world_size,
        "init_from": run.start.history,
        "stats": stats.saved(),
    }
    save_checkpoint(run.places.checkpoint, state)


@dataclass
class Clock:
    """This session's time: its --max-minutes budget, and when the last checkpoint was written."""

    budget_minutes: float | None
    checkpoint_minutes: float
    start: float = field(default_factory=time.monotonic)
    last_checkpoint: float = 0.0

    def __post_init__(self) -> None:
        self.last_checkpoint = self.start

    def over_budget(self) -> bool:
        return self.budget_minutes is not None and time.monotonic() - self.start > 60 * self.budget_minutes

    def budget_left(self) -> float:
        """Seconds left of the budget (infinite without one)."""
        if self.budget_minutes is None:
            return math.inf
        return 60 * self.budget_minutes - (time.monotonic() - self.start)

    def due(self) -> bool:
        """A checkpoint by time as well as by steps: slow CPU runs lose at most --checkpoint-minutes."""
        return time.monotonic() - self.last_checkpoint > 60 * self.checkpoint_minutes

    def checkpointed(self) -> None:
        self.last_checkpoint = time.monotonic()


class Log:
    """Rank 0's messages and progress bar; when stderr is not a terminal (a log file), plain lines with an ETA
    instead of a redrawn bar."""

    def __init__(self, master: bool) -> None:
        self.master, self.bar = master, None

    def __call__(self, msg: str) -> None:
        if self.master:
            (self.bar.write if self.bar is not None and not self.bar.disable else print)(msg, file=sys.stderr)

    def open_bar(self, total: int, initial: int, desc: str) -> None:
        if self.master:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, initial=initial, desc=desc, unit="step", disable=None, dynamic_ncols=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _log_plan(log: Log, photos: Photos, start_step: int, total_steps: int, global_batch: int) -> None:
    if start_step >= total_steps:
        log(f"this run already finished ({start_step} of {total_steps} steps); installing its result again")
    log(
        f"{len(photos.train)} training photos, {len(photos.val)} held out, {photos.skipped} unreadable skipped; "
        f"{total_steps} steps of {global_batch} ({total_steps * global_batch / len(photos.train):.2f} epochs)"
    )


def _report(log: Log, run: Run, stats: Stats, clock: Clock, step: int, log_now: bool) -> None:
    """The bar's losses (and a plain line with an ETA when it is not drawn); once, the estimated duration."""
    bar, total_steps = log.bar, run.total_steps
    if log_now and bar is not None:
        bar.set_postfix({k: f"{v:.3g}" for k, v in stats.losses.items()}, refresh=False)
        rate = stats.session_images / stats.session_seconds
        if bar.disable:
            left = min((total_steps - step) * run.global_batch / rate, clock.budget_left())
            losses = " ".join(f"{k} {v:.4g}" for k, v in stats.losses.items())
            log(f"step {step}/{total_steps} {losses}  {rate:.2f} img/s  eta {_duration(max(left, 0.0))}")
    if step == run.start.step + ESTIMATE_AFTER and step < total_steps:
        left = (total_steps - step) * run.global_batch * stats.session_seconds / stats.session_images
        budget = run.cfg.max_minutes
        log(
            f"estimated time for the remaining {total_steps - step} steps: {_duration(left)} at "
            f"{stats.session_images / stats.session_seconds:.2f} images/s"
            + (f" (the --max-minutes budget stops it after {budget:g} min)" if budget and left > 60 * budget else "")
        )
    if bar is not None:
        bar.update(1)


def _duration(seconds: float) -> str:
    """'1:02:03' / '4:05': readable at a glance in a log line."""
    if not math.isfinite(seconds):
        return "?"
    m, s = divmod(round(seconds), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def main(argv: Sequence[str] | None = None) -> int:
    """The command line: 0 when the style is installed, 130 after a requested stop, 2 with one `error:` line."""
    try:
        try:
            cfg = parse_args(argv)
        except SystemExit as e:  # a mistyped option (one line already printed) or --help
            return int(e.code or 0)
        cfg.command = portable_command(sys.argv[1:] if argv is None else argv)
        train(cfg)
    except TrainingStopped as e:
        if is_rank0():
            print(str(e), file=sys.stderr)
        return 130
    except NSTError as e:
        if is_rank0():  # under torchrun every rank hits the same mistake: say it once
            print(f"error: {e}", file=sys.stderr)
        return 2
    return 0
