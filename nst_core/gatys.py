"""Gatys et al. 2015: optimise the pixels of an image against content and Gram-matrix style losses.

One entry point, `run_gatys(content, styles, options, callback=..., cancel=...)`, with coarse-to-fine multi-scale
optimisation for large outputs and a progress record every step (the CLI prints it, the demo and bots stream it).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

import torch
import torch.nn.functional as F
from PIL import Image

from .colors import luminance, match_luminance, preserve_colors
from .device import DeviceProfile, device_option, make_profile, memory_format_option, precision_option, resolve_device
from .errors import DeviceOutOfMemory, OptionsError
from .images import MIN_SIZE, SIZE_HELP, pad_to_min_side, pil_to_tensor, resize_long_side, resize_to_size, tensor_to_pil
from .lbfgs import DeviceLBFGS, Stepper
from .losses import PerceptualLoss
from .lossnets import get_spec, list_loss_nets, load_loss_net
from .masks import Regions
from .options import PerDevice, blend_option, check_options, comma_names, field_default, option
from .progress import Progress, ProgressCallback, check_cancel

OPTIMIZERS = ("lbfgs", "lbfgs_torch", "adam")  # lbfgs: device-resident (nst_core.lbfgs); lbfgs_torch: the reference
LOSS_READ_EVERY = 10  # steps between reads of the loss values (each read waits for the device)
INITS = ("content", "noise", "image")
MAX_SIZE = 4096
MAX_STEPS = 10_000
WEIGHT_BOUNDS = (0, 1e12)
MIN_NET_SIDE = 32  # below this VGG's fourth pooling has nothing left: smaller sides are edge-padded, then cropped


def _is_loss_net(name: object) -> bool:
    """A registered loss network, by any of its names (`get_spec` accepts them in any case)."""
    return isinstance(name, str) and name.lower() in {n.lower() for n in list_loss_nets()}


@dataclass
class GatysOptions:
    """Every knob of the Gatys engine, shared by the API, CLI, demo and bots. `None` means "default for the
    device / loss network" and is filled in by `resolved()`."""

    size: int | None = option(
        None, SIZE_HELP + ", default: {cpu} on a CPU, {gpu} on a GPU",
        bounds=(MIN_SIZE, MAX_SIZE), auto=PerDevice(384, 512),
    )  # fmt: skip
    steps: int | None = option(
        None, "L-BFGS/Adam steps at the coarsest scale, half at finer ones (default: {cpu} on a CPU, {gpu} on a GPU)",
        bounds=(1, MAX_STEPS), auto=PerDevice(100, 300),
    )  # fmt: skip
    content_weight: float | None = option(None, "default: the loss network's", bounds=WEIGHT_BOUNDS)
    style_weight: float | None = option(None, "default: the loss network's", bounds=WEIGHT_BOUNDS)
    tv_weight: float | None = option(None, "default: the loss network's", bounds=WEIGHT_BOUNDS)
    content_layers: tuple[str, ...] | None = option(None, parse=comma_names, metavar="L1,L2")
    style_layers: tuple[str, ...] | None = option(None, parse=comma_names, metavar="L1,L2,...")
    style_layer_weights: tuple[float, ...] | None = None
    style_blend: tuple[float, ...] | None = blend_option()
    style_scale: float = option(1.0, "style images are resized to size x this", bounds=(0.1, 4))
    optimizer: str = option(
        "lbfgs",
        "lbfgs (no host round trip per step), lbfgs_torch (torch's, strong-Wolfe line search) or adam",
        choices=OPTIMIZERS,
    )
    lr: float | None = option(None, "Adam step size (default {default})", auto=0.02, bounds=(1e-12, 1))
    average: float = option(
        0.0, "Adam only: return the running average of the pictures with this decay, e.g. 0.99 (0: the last)",
        bounds=(0, 0.9999),
    )  # fmt: skip
    init: str = option("content", "start from the content, noise, or --init-image", choices=INITS)
    seed: int = option(0, bounds=(0, 2**63 - 1))
    preserve_colors: bool = option(False, "keep the content's colours")
    multiscale: bool | None = option(None, "coarse-to-fine optimisation (default: on for 384 px and more)")
    loss_net: str = option("vgg19", "loss network (default {default})", choices=list_loss_nets, check=_is_loss_net)
    loss_net_weights: str | None = option(None, "weights file for the loss network", metavar="PATH")
    pooling: str = option("max", choices=("max", "avg"))
    device: str = device_option()
    precision: str = precision_option()  # auto | fp32 | bf16 | fp16 (see nst_core.device)
    memory_format: str = memory_format_option()  # auto | channels_last | contiguous
    preview_every: int = option(10, "send an intermediate image every N steps (0: never)", bounds=(0, MAX_STEPS),
                                flag=False)  # fmt: skip

    @classmethod
    def field_names(cls) -> set[str]:
        return {f.name for f in fields(cls)}

    def resolved(self, device: torch.device | None = None) -> GatysOptions:
        """Fill device- and network-dependent defaults, then validate; returns a new object."""
        dev = device or resolve_device(self.device)
        spec = get_spec(self.loss_net)
        o = replace(self)
        o.loss_net = spec.name
        for key in ("size", "steps", "lr"):
            if getattr(o, key) is None:
                setattr(o, key, field_default(GatysOptions, key, dev.type))
        for key in ("content_weight", "style_weight", "tv_weight"):
            if getattr(o, key) is None:
                setattr(o, key, spec.default_weights.get(key, 1.0))
        if o.content_layers is None:
            o.content_layers = spec.content_layers
        if o.style_layers is None:
            o.style_layers = spec.style_layers
            if o.style_layer_weights is None:
                o.style_layer_weights = spec.style_layer_weights
        if o.multiscale is None:
            o.multiscale = o.size >= 384
        o.content_layers, o.style_layers = tuple(o.content_layers), tuple(o.style_layers)
        o.validate()
        return o

    def validate(self) -> None:
        """Every field against its declaration (`check_options`, naming the option as the caller wrote it),
        then what involves several fields or a file."""
        check_options(self)
        weights, layers = self.style_layer_weights, self.style_layers
        if weights is not None and layers is not None and len(weights) != len(layers):
            raise OptionsError("give one style layer weight per style layer.")
        if self.average and self.optimizer != "adam":
            raise OptionsError("average is for the adam optimizer: L-BFGS returns its best point.")
        spec = get_spec(self.loss_net)
        for layer in (self.content_layers or ()) + (self.style_layers or ()):
            spec.index(layer)
        if self.loss_net_weights is not None and not Path(self.loss_net_weights).expanduser().is_file():
            raise OptionsError(f"loss network weights file not found: {self.loss_net_weights}")

    def as_dict(self) -> dict:
        return asdict(self)


def painting_side(side: int, long: int, opts: GatysOptions) -> int:
    """The paintings' long side at a scale whose long side is `side`, for a picture painted `long` px long: the
    nominal `size`'s share of it (times `style_scale`). A panorama or strip is painted longer than `size`
    (images.sized_for), and gets the brush of a picture of that size: its paintings are not enlarged to its length
    (a 2000x8 strip at 768 once made a 2000 px painting, 200 times the strip's pixels)."""
    return max(16, round(side * opts.style_scale * min(1.0, opts.size / long)))


def plan_scales(size: int, multiscale: bool, steps: int, min_side: int = 192) -> list[tuple[int, int]]:
    """[(long side, steps), ...] coarse to fine: halve down to ~min_side; finer scales need fewer steps
    because they start from an upsampled solution."""
    if not multiscale:
        return [(size, steps)]
    sides = [size]
    while sides[0] // 2 >= min_side:
        sides.insert(0, sides[0] // 2)
    if len(sides) == 1:
        return [(size, steps)]
    return [(s, steps if i == 0 else max(1, steps // 2)) for i, s in enumerate(sides)]


def _init_image(kind: str, content: torch.Tensor, init_image: Image.Image | None, seed: int) -> torch.Tensor:
    if kind == "content":
        return content.clone()
    if kind == "noise":
        gen = torch.Generator().manual_seed(seed)
        return torch.rand(content.shape, generator=gen).to(content.device)
    if init_image is None:
        raise OptionsError("init='image' needs an init image.")
    h, w = content.shape[-2:]
    return pil_to_tensor(init_image.convert("RGB").resize((w, h), Image.Resampling.LANCZOS)).to(content.device)


class _Reporter:
    """Turns optimiser iterations into Progress records (and previews every N steps)."""

    def __init__(self, callback: ProgressCallback | None, plan: list[tuple[int, int]], preview_every: int) -> None:
        self.callback, self.preview_every = callback, preview_every
        self.total, self.scales = sum(n for _, n in plan), len(plan)
        # a step's cost grows with its scale's pixels: the ETA goes by work, not steps (issue #24 item 3)
        self.cost = [side * side for side, _ in plan]
        self.work_total, self.work = float(sum(side * side * n for side, n in plan)), 0.0
        self.done, self.start = 0, time.perf_counter()
        self.last_losses: dict[str, float] = {}

    def step(self, x: torch.Tensor, losses: dict, scale: int, final: bool = False) -> None:
        """Losses may be device tensors: they are read (a device sync) only every LOSS_READ_EVERY steps, at the
        end, and with a preview; in between the record carries the last values read."""
        self.done += 1
        self.work += self.cost[scale - 1]
        if self.callback is None:
            return
        if final or self.done % LOSS_READ_EVERY == 1 or (self.preview_every and self.done % self.preview_every == 0):
            self.last_losses = {k: float(v) for k, v in losses.items()}
        losses = self.last_losses
        image = None
        if final or (self.preview_every and self.done % self.preview_every == 0):
            image = tensor_to_pil(x.detach().clamp(0, 1))
        h, w = x.shape[-2:]
        self.callback(
            Progress(
                step=self.done,
                total=self.total,
                losses=losses,
                elapsed=time.perf_counter() - self.start,
                size=(w, h),
                scale=scale,
                scales=self.scales,
                image=image,
                work=self.work,
                work_total=self.work_total,
            )
        )


def _optimise(
    x: torch.Tensor,
    crit: PerceptualLoss,
    targets: dict,
    opts: GatysOptions,
    steps: int,
    reporter: _Reporter,
    scale: int,
    cancel: threading.Event | None,
    profile: DeviceProfile,
) -> torch.Tensor:
    # The optimised pixels stay contiguous whatever the profile: torch's L-BFGS flattens them with .view(-1),
    # which a channels_last tensor refuses. The loss network sees a channels_last copy (autograd carries it back).
    x = x.detach().contiguous().requires_grad_(True)
    state = {"iters": 0}

    def evaluate() -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        with profile.autocast():
            total, terms = crit(profile.format(x), targets)
        losses = {k: v.detach() for k, v in terms.items()}
        losses["total"] = total.detach()
        return total * profile.loss_scale, losses  # a constant factor moves neither optimiser's minimum

    if opts.optimizer == "adam":
        return _adam(x, evaluate, steps, opts, reporter, scale, cancel)
    if opts.optimizer == "lbfgs":
        return _device_lbfgs(x, evaluate, steps, reporter, scale, cancel)
    # One L-BFGS call for all iterations: calling step() per iteration would re-evaluate the objective each time.
    optim = torch.optim.LBFGS(
        [x],
        lr=1.0,
        max_iter=steps,
        max_eval=int(steps * 1.25) + 5,
        history_size=50,
        tolerance_grad=0.0,
        tolerance_change=0.0,
        line_search_fn="strong_wolfe",
    )
    param_state = optim.state[x]

    def closure() -> torch.Tensor:
        check_cancel(cancel)
        optim.zero_grad(set_to_none=True)
        total, losses = evaluate()
        total.backward()
        n_iter = param_state.get("n_iter", 0)
        if n_iter > state["iters"]:  # report once per completed iteration, not per line-search evaluation
            state["iters"] = n_iter
            reporter.step(x, losses, scale)
        return total

    optim.step(closure)
    while state["iters"] < steps:  # converged early: account for the remaining steps so progress ends at 100%
        state["iters"] += 1
        reporter.step(x, reporter.last_losses, scale, final=state["iters"] == steps)
    return x.detach()


def _guides(regions: Regions, box: tuple[int, int, int, int], padded: tuple[int, int], c: torch.Tensor) -> torch.Tensor:
    """The regions' weights (R, 1, H, W) at the size of this scale's picture, zero on the edge padding."""
    full = regions.resized((box[2] - box[0], box[3] - box[1]))
    canvas = torch.zeros(len(full.weights), 1, padded[1], padded[0])
    for i, w in enumerate(full.weights):
        canvas[i, 0, box[1] : box[3], box[0] : box[2]] = torch.from_numpy(w)
    return F.interpolate(canvas, size=c.shape[-2:], mode="area").to(c.device)


def _adam(x, evaluate, steps: int, opts: GatysOptions, reporter: _Reporter, scale: int, cancel) -> torch.Tensor:
    """Adam on the pixels. At a fixed step size its iterates keep jittering around the minimum; with `average` the
    result (and the previews) is their bias-corrected exponential average, as in crowsonkb/style-transfer-pytorch.
    Measured (bench/RESULTS.md): it smooths late jitter but reaches no objective sooner than L-BFGS in the box."""
    optim = torch.optim.Adam([x], lr=opts.lr)
    biased, kept = torch.zeros_like(x), 1.0
    for i in range(steps):
        check_cancel(cancel)
        optim.zero_grad(set_to_none=True)
        total, losses = evaluate()
        total.backward()
        optim.step()
        with torch.no_grad():
            x.clamp_(0, 1)
            biased.lerp_(x, 1 - opts.average)
            kept *= opts.average
        picture = biased / (1 - kept) if opts.average else x
        reporter.step(picture, losses, scale, final=i == steps - 1)
    return picture.detach()


def _device_lbfgs(x, evaluate, steps: int, reporter: _Reporter, scale: int, cancel) -> torch.Tensor:
    """The default optimiser: one evaluation per step and no device read in between (see nst_core.lbfgs)."""
    optim = DeviceLBFGS(x, history=50, bounds=(0.0, 1.0))  # the picture: what is delivered is clamped anyway
    losses: dict[str, torch.Tensor] = {}

    def closure() -> torch.Tensor:
        x.grad = None
        total, terms = evaluate()
        total.backward()
        losses.update(terms)
        return total

    step = Stepper(optim, closure)  # on CUDA, a CUDA graph replayed (nst_core.lbfgs)
    for i in range(steps):
        check_cancel(cancel)
        step()
        reporter.step(optim.best(), losses, scale, final=i == steps - 1)  # x is the next, unevaluated trial
    return optim.best().detach()


def run_gatys(
    content: Image.Image,
    styles: Sequence[Image.Image],
    options: GatysOptions | None = None,
    *,
    init_image: Image.Image | None = None,
    regions: Regions | None = None,
    callback: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
) -> Image.Image:
    """Stylise `content` with one or more `styles` (blended by `options.style_blend`); returns an RGB image.
    With `regions` (nst_core.masks), `styles` has one painting per region and each region's style term uses
    a guided Gram matrix; the caller lays the result over the photo by the regions' weights."""
    if not styles:
        raise OptionsError("Gatys needs at least one style image.")
    device = resolve_device((options or GatysOptions()).device)
    opts = (options or GatysOptions()).resolved(device)
    if opts.style_blend is not None and len(opts.style_blend) != len(styles):
        raise OptionsError(
            f"give one blend weight per style image: got {len(opts.style_blend)} weight(s) for {len(styles)} image(s)."
        )
    if opts.init == "image" and init_image is None:
        raise OptionsError("init='image' needs an init image.")
    profile = make_profile(device, opts.precision, opts.memory_format)
    net = load_loss_net(
        opts.loss_net,
        opts.loss_net_weights,
        device=device,
        pooling=opts.pooling,
        layers=opts.content_layers + opts.style_layers,
    )
    crit = PerceptualLoss.from_options(net, opts)
    fmt = profile.memory_format
    net.to(memory_format=fmt)
    content_full = resize_to_size(content.convert("RGB"), opts.size)
    long = max(content_full.size)
    coarsest = plan_scales(long, opts.multiscale, opts.steps)[0][0]  # VGG's four poolings need 32 px there
    padded, box = pad_to_min_side(content_full, math.ceil(MIN_NET_SIDE * long / coarsest))
    work_content = luminance(padded) if opts.preserve_colors else padded
    work_styles = [match_luminance(s, content_full) if opts.preserve_colors else s.convert("RGB") for s in styles]
    plan = plan_scales(max(padded.size), opts.multiscale, opts.steps)
    reporter = _Reporter(callback, plan, opts.preview_every)
    x: torch.Tensor | None = None
    try:
        for scale, (side, steps) in enumerate(plan, start=1):
            check_cancel(cancel)
            c = pil_to_tensor(resize_long_side(work_content, side)).to(device, memory_format=fmt)
            style_side = painting_side(side, long, opts)
            with profile.autocast():
                style_tensors = [
                    pil_to_tensor(pad_to_min_side(resize_long_side(s, style_side), MIN_NET_SIDE)[0]).to(
                        device, memory_format=fmt
                    )
                    for s in work_styles
                ]
                if regions is None:
                    crit.set_style(style_tensors, opts.style_blend)
                else:
                    crit.set_style_regions(style_tensors, _guides(regions, box, padded.size, c))
                targets = crit.content_targets(c)
            if x is None:
                x = _init_image(opts.init, c, init_image, opts.seed)
            else:
                x = F.interpolate(x, size=c.shape[-2:], mode="bicubic", align_corners=False).clamp(0, 1)
            x = _optimise(x, crit, targets, opts, steps, reporter, scale, cancel, profile)
    except torch.OutOfMemoryError as e:
        raise DeviceOutOfMemory(
            f"The {device.type.upper()} ran out of memory at {opts.size} px: try a smaller "
            f"size (e.g. --size {max(64, opts.size // 2)}) or fewer style images."
        ) from e
    result = tensor_to_pil(x.clamp(0, 1)).crop(box)
    if opts.preserve_colors:
        result = preserve_colors(result, content_full)
    return result
