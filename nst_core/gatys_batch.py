"""Batched Gatys: several requests of one size optimised together, each with its own paintings and cancel (#21).

A GPU spends a 512 px Gatys step mostly waiting (bench/RESULTS.md, "GPU: one H200"): a batch of N pictures costs
little more per step than one. The batched `DeviceLBFGS` keeps every scalar per picture, so each picture follows
the path it would alone; a cancelled request is frozen where it is and comes back as None while the others go on.
`nst_core.batching.GatysBatcher` groups concurrent requests by options and size and calls `run_gatys_batch`;
`nst_core.stylize` feeds it when NST_GATYS_BATCH is above 1, so the demo's and the bots' concurrent Gatys jobs
share one batch without any batching code of their own.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from PIL import Image

from .device import make_profile, resolve_device
from .errors import OptionsError
from .gatys import LOSS_READ_EVERY, MIN_NET_SIDE, GatysOptions, _Reporter, painting_side, plan_scales
from .images import pad_to_min_side, pil_to_tensor, resize_long_side, resize_to_size, tensor_to_pil
from .lbfgs import DeviceLBFGS, Stepper
from .losses import PerceptualLoss
from .lossnets import load_loss_net
from .progress import Progress, ProgressCallback

__all__ = ["run_gatys_batch"]


def _check(contents: Sequence[Image.Image], styles: Sequence, opts: GatysOptions) -> list[Image.Image]:
    if not contents or len(styles) != len(contents) or any(not s for s in styles):
        raise OptionsError("give one list of style images per content image, none empty")
    if opts.optimizer != "lbfgs" or opts.init != "content" or opts.preserve_colors or opts.style_blend:
        raise OptionsError("batched Gatys runs the default L-BFGS from the content, without blends or colour keeping")
    sized = [resize_to_size(c.convert("RGB"), opts.size) for c in contents]  # run_gatys' sizing rule
    if len({im.size for im in sized}) != 1:
        raise OptionsError("a batch holds pictures of one size: group requests by their size first")
    return sized


def run_gatys_batch(
    contents: Sequence[Image.Image],
    styles: Sequence[Sequence[Image.Image]],
    options: GatysOptions | None = None,
    *,
    cancels: Sequence[threading.Event | None] | None = None,
    callback: ProgressCallback | None = None,
    callbacks: Sequence[ProgressCallback | None] | None = None,
) -> list[Image.Image | None]:
    """Picture i stylised with `styles[i]`, all in one batch; None for a picture whose cancel was set.

    `callback` hears the batch (mean loss); `callbacks[i]` hears picture i alone, as `run_gatys` would report
    it (its own loss, pass, work and preview every `preview_every` steps), until its cancel is set."""
    device = resolve_device((options or GatysOptions()).device)
    opts = (options or GatysOptions()).resolved(device)
    sized = _check(contents, styles, opts)
    cancels = list(cancels or [None] * len(sized))
    profile = make_profile(device, opts.precision, opts.memory_format)
    crit = _criterion(opts, device, profile)
    plan = plan_scales(max(sized[0].size), opts.multiscale, opts.steps)
    reporters = [_Reporter(cb, plan, opts.preview_every) if cb else None for cb in callbacks or [None] * len(sized)]
    frozen = torch.zeros(len(sized), dtype=torch.bool)
    total, done, start = sum(n for _, n in plan), 0, time.perf_counter()
    x, box = None, (0, 0, *sized[0].size)
    for scale, (side, steps) in enumerate(plan, start=1):
        padded = [pad_to_min_side(resize_long_side(im, side), MIN_NET_SIDE) for im in sized]
        box = padded[0][1]
        c = torch.cat([pil_to_tensor(im) for im, _ in padded]).to(device)
        style_side = painting_side(side, max(sized[0].size), opts)
        with profile.autocast():
            crit.set_style_per_image(
                [
                    [
                        pil_to_tensor(pad_to_min_side(resize_long_side(s, style_side), MIN_NET_SIDE)[0]).to(device)
                        for s in item
                    ]
                    for item in styles
                ]
            )
            targets = crit.content_targets(c)
        x = c.clone() if x is None else F.interpolate(x, size=c.shape[-2:], mode="bicubic").clamp(0, 1)
        optim = DeviceLBFGS(x.requires_grad_(True), history=50, batched=True, bounds=(0.0, 1.0))
        optim.freeze(frozen)
        step = Stepper(optim, _closure(x, crit, targets, profile))  # on CUDA, a CUDA graph replayed
        for _ in range(steps):
            now = torch.tensor([ev is not None and ev.is_set() for ev in cancels])
            if (now & ~frozen).any():
                frozen |= now
                optim.freeze(frozen)
            if frozen.all():
                return [None] * len(sized)
            losses = step()
            done += 1
            if callback is not None:
                read = done % LOSS_READ_EVERY == 0 or done == total  # a read waits for the device
                callback(
                    Progress(
                        step=done,
                        total=total,
                        elapsed=time.perf_counter() - start,
                        size=(c.shape[-1], c.shape[-2]),
                        losses={"total": float(losses.mean())} if read else {},
                    )
                )
            _report_each(reporters, frozen, x, losses, box, scale, final=done == total)
        x = optim.best().detach()
    return [None if frozen[i] else _crop(x[i : i + 1], box) for i in range(len(sized))]


def _crop(x: torch.Tensor, box: tuple[int, int, int, int]) -> Image.Image:
    """One picture of the batch without the edge padding `pad_to_min_side` added around it."""
    left, top, right, bottom = box
    return tensor_to_pil(x[:, :, top:bottom, left:right].detach().clamp(0, 1))


def _report_each(reporters, frozen, x, losses, box, scale: int, final: bool) -> None:
    """Each picture's own progress record, from its slice of the batch (none once it is cancelled)."""
    left, top, right, bottom = box
    for i, reporter in enumerate(reporters):
        if reporter is not None and not frozen[i]:
            reporter.step(x[i : i + 1, :, top:bottom, left:right], {"total": losses[i]}, scale, final=final)


def _criterion(opts: GatysOptions, device: torch.device, profile) -> PerceptualLoss:
    net = load_loss_net(
        opts.loss_net, opts.loss_net_weights, device=device, pooling=opts.pooling,
        layers=opts.content_layers + opts.style_layers,
    )  # fmt: skip
    return PerceptualLoss.from_options(net.to(memory_format=profile.memory_format), opts)


def _closure(x: torch.Tensor, crit: PerceptualLoss, targets: dict, profile) -> Callable[[], torch.Tensor]:
    """Each picture's objective (per row) at `x`, its gradient in `x.grad`."""

    def closure() -> torch.Tensor:
        x.grad = None
        with profile.autocast():
            per_image, _ = crit(profile.format(x), targets, per_image=True)
        (per_image.sum() * profile.loss_scale).backward()
        return per_image

    return closure
