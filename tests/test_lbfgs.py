"""The device-resident L-BFGS (nst_core.lbfgs): torch's objective at equal steps, and no host read per iteration.

A host read (`.item()`, `float(t)`, `bool(t)`, `int(t)`, `.tolist()`, `.numpy()`) waits for a GPU's queue to
drain; on a CPU it costs nothing, so the absence of reads is asserted by counting them, and on CUDA by
torch.cuda.set_sync_debug_mode as well.
"""

from __future__ import annotations

import contextlib
import threading

import pytest
import torch

from nst_core import Cancelled
from nst_core.gatys import GatysOptions, run_gatys
from nst_core.lbfgs import DeviceLBFGS
from nst_core.losses import PerceptualLoss
from nst_core.lossnets import load_loss_net

READS = ("item", "__float__", "__bool__", "__int__", "__index__", "tolist", "numpy")


@contextlib.contextmanager
def count_host_reads(monkeypatch):
    counts = dict.fromkeys(READS, 0)
    for name in READS:
        original = getattr(torch.Tensor, name)

        def counted(self, *a, _name=name, _original=original, **kw):
            counts[_name] += 1
            return _original(self, *a, **kw)

        monkeypatch.setattr(torch.Tensor, name, counted)
    yield counts
    monkeypatch.undo()


def _rosenbrock(x: torch.Tensor) -> torch.Tensor:
    a, b = x[:-1], x[1:]
    return ((1 - a) ** 2 + 100 * (b - a**2) ** 2).sum()


def _quadratic(x: torch.Tensor) -> torch.Tensor:
    scales = torch.logspace(0, 3, x.numel(), dtype=x.dtype)  # condition number 1000
    return (scales * (x - 0.5) ** 2).sum()


def _minimise(fn, x0: torch.Tensor, steps: int, kind: str, max_eval: int | None = None, bounds=None) -> torch.Tensor:
    """The point `kind` ("device" or "torch") returns after `steps` iterations (torch: at most `max_eval`
    evaluations)."""
    x = x0.clone().requires_grad_(True)

    def closure():
        x.grad = None
        loss = fn(x)
        loss.backward()
        return loss

    if kind == "device":
        opt = DeviceLBFGS(x, history=50, bounds=bounds)
        for _ in range(steps):
            opt.step(closure)
        return opt.best().detach()
    ref = torch.optim.LBFGS([x], lr=1, max_iter=steps, max_eval=max_eval, history_size=50, tolerance_grad=0,
                            tolerance_change=0, line_search_fn="strong_wolfe")  # fmt: skip
    ref.step(closure)
    return x.detach()


@pytest.mark.parametrize("fn", [_rosenbrock, _quadratic])
def test_converges_on_classic_problems(fn):
    """Without torch's strong-Wolfe search it trails on these (measured: Rosenbrock 30 steps 1.04x, an
    ill-conditioned quadratic 2.9x at 30 steps), but converges; Gatys is where parity is required (below)."""
    x0 = torch.linspace(-1.2, 1.0, 20, dtype=torch.float64)
    start = float(fn(x0))
    assert float(fn(_minimise(fn, x0, 200, "device"))) < 1e-3 * start


def test_bounds_keep_every_evaluated_point_inside_and_reach_the_box_s_minimum():
    """A quadratic whose free minimum (-1 and 2) lies outside the box [0, 1]: projected, every point evaluated is
    in the box and the result is the box's minimum (0 and 1); free, it would leave the box at the first step."""
    target = torch.tensor([-1.0, 2.0] * 10, dtype=torch.float64)
    scales = torch.logspace(0, 2, 20, dtype=torch.float64)
    x = torch.full((20,), 0.5, dtype=torch.float64, requires_grad=True)
    seen = []

    def closure():
        seen.append((float(x.detach().min()), float(x.detach().max())))
        x.grad = None
        loss = (scales * (x - target) ** 2).sum()
        loss.backward()
        return loss

    opt = DeviceLBFGS(x, history=5, bounds=(0.0, 1.0))
    for _ in range(40):
        opt.step(closure)
    assert min(lo for lo, _ in seen) >= 0 and max(hi for _, hi in seen) <= 1
    assert torch.allclose(opt.best(), target.clamp(0, 1), atol=1e-6)


@pytest.mark.parametrize("size", [64, 96])
def test_matches_torch_s_objective_on_small_gatys_problems(size, vgg19_path):
    """Judged as delivered: every result becomes a 0-1 picture. The engine's L-BFGS keeps its points in that box
    (projected steps); torch's leaves it (about 3% of the pixels) and is clamped afterwards, which costs it 3-4%
    here and 6-8% at 192 px (bench/RESULTS.md)."""
    crit, targets, content = _gatys_problem(size, vgg19_path)

    def loss(x):
        return crit(x.view_as(content), targets)[0]

    def judged(x):
        return float(loss(x.clamp(0, 1)))

    for steps in (30, 60):
        ours = judged(_minimise(loss, content.flatten(), steps, "device", bounds=(0.0, 1.0)))
        theirs = _minimise(loss, content.flatten(), steps, "torch")  # its line search: 1.1-1.4 evaluations a step
        assert ours <= judged(theirs) * 1.02, (size, steps, ours, judged(theirs))
        assert ours <= float(loss(theirs)) * 1.025, (size, steps, ours, float(loss(theirs)))  # measured: +1.8% at most
        # The cost is the evaluations (a forward and backward each): given as many as ours used, torch's is higher.
        same_work = judged(_minimise(loss, content.flatten(), steps, "torch", max_eval=steps))
        assert ours <= same_work * 1.01, (size, steps, ours, same_work)


def _gatys_problem(size: int = 32, weights=None):
    """Gatys' objective (the engine's defaults for VGG-19) on a small photo and painting: the shared ones with
    real weights, smooth random pictures with a random network."""
    from nst_core.images import load_image, pil_to_tensor, resize_long_side
    from nst_core.lossnets import get_spec

    spec = get_spec("vgg19")
    net = load_loss_net("vgg19", weights, pretrained=weights is not None,
                        layers=[*spec.content_layers, *spec.style_layers])  # fmt: skip
    crit = PerceptualLoss.from_spec(net)
    if weights is not None:
        data = weights.parents[1]
        content = pil_to_tensor(resize_long_side(load_image(data / "content" / "tubingen.jpg"), size))
        style = pil_to_tensor(resize_long_side(load_image(data / "styles" / "starry_night.jpg"), size))
    else:
        g = torch.Generator().manual_seed(0)
        content, style = (torch.nn.functional.interpolate(torch.rand(1, 3, 8, 8, generator=g), size=(size, size),
                                                          mode="bicubic").clamp(0, 1) for _ in range(2))  # fmt: skip
    crit.set_style([style])
    return crit, crit.content_targets(content), content


def _gatys_closure(device: str = "cpu"):
    """`_gatys_problem` on `device`, with the picture to optimise and the closure an optimiser calls."""
    crit, targets, content = _gatys_problem()
    crit, content = crit.to(device), content.to(device)
    targets = {k: v.to(device) for k, v in targets.items()}
    x = content.clone().requires_grad_(True)

    def closure():
        x.grad = None
        total, _ = crit(x, targets)
        total.backward()
        return total

    return crit, targets, content, x, closure


def test_an_iteration_reads_nothing_back_from_the_device(monkeypatch):
    crit, targets, content, x, closure = _gatys_closure()

    opt = DeviceLBFGS(x, history=5)
    opt.step(closure)  # the first step sets up the state
    sync = torch.cuda.set_sync_debug_mode if torch.cuda.is_available() else None
    with count_host_reads(monkeypatch) as counts:
        if sync:
            sync("error")
        for _ in range(12):  # more steps than the history: the ring wraps
            opt.step(closure)
        if sync:
            sync("default")
    assert sum(counts.values()) == 0, counts
    assert float(closure().detach()) < float(crit(content, targets)[0].detach())


def test_the_gatys_loop_reads_losses_only_every_few_steps(monkeypatch, tmp_path):
    from nst_core import gatys

    crit, targets, content = _gatys_problem()
    reporter = gatys._Reporter(callback=lambda p: None, plan=[(64, 20)], preview_every=0)
    profile = gatys.make_profile("cpu", "fp32", "contiguous")
    with count_host_reads(monkeypatch) as counts:
        gatys._optimise(content, crit, targets, GatysOptions(optimizer="lbfgs"), 20, reporter, 1, None, profile)
    reads = sum(counts.values())
    assert 0 < reads <= 3 * 4 * (20 // gatys.LOSS_READ_EVERY + 2), counts  # a few terms, every 10 steps


@pytest.mark.parametrize("optimizer", ["lbfgs", "lbfgs_torch"])
def test_cancel_stops_within_a_step(optimizer, vgg19_path):
    from PIL import Image

    cancel, seen = threading.Event(), []

    def cb(p):
        seen.append(p.step)
        if p.step == 3:
            cancel.set()

    photo = Image.new("RGB", (48, 48), (120, 80, 40))
    with pytest.raises(Cancelled):
        run_gatys(photo, [Image.new("RGB", (48, 48), (20, 40, 200))],
                  GatysOptions(size=48, steps=30, optimizer=optimizer, loss_net_weights=str(vgg19_path)),
                  callback=cb, cancel=cancel)  # fmt: skip
    assert max(seen) <= 4


def test_a_batch_paints_each_picture_as_it_would_alone(vgg19_path, content_dir, styles_dir, monkeypatch):
    """The same maths: each picture's objective, step by step, is what it is alone until rounding parts the two
    runs (the batch's convolutions add in another order; after that L-BFGS amplifies the difference, and which
    run ends lower is chance: up to 3% either way at 30 steps, depending on the machine). So: the first steps agree
    to 1e-3, and the batch ends no worse than the lone run's own spread under a one-grey-level nudge of the
    photo (measured: 3.58-3.59 on one pair, 4.13-4.26 on the other), judged on the pictures handed back."""
    import numpy as np
    from PIL import Image

    from nst_core.gatys_batch import run_gatys_batch
    from nst_core.images import load_image, resize_long_side
    from nst_core.judge import objective

    seen: list[torch.Tensor] = []
    step = DeviceLBFGS.step
    monkeypatch.setattr(DeviceLBFGS, "step", lambda self, closure: seen.append(step(self, closure)) or seen[-1])
    photos = [
        resize_long_side(load_image(content_dir / f"{n}.jpg"), 64).resize((64, 48)) for n in ("tubingen", "chicago")
    ]
    paintings = [load_image(styles_dir / f"{n}.jpg") for n in ("starry_night", "the_scream")]
    opts = GatysOptions(size=64, steps=30, multiscale=False, precision="fp32", loss_net_weights=str(vgg19_path))
    batch = run_gatys_batch(photos, [[p] for p in paintings], opts)
    batch_losses = torch.stack([f.detach().reshape(-1) for f in seen])
    for i, (photo, painting, out) in enumerate(zip(photos, paintings, batch, strict=True)):
        seen.clear()
        alone = run_gatys(photo, [painting], opts)
        alone_losses = torch.stack([f.detach().reshape(-1) for f in seen])[:, 0]
        assert torch.allclose(batch_losses[:5, i], alone_losses[:5], rtol=1e-3), (batch_losses[:5, i], alone_losses)
        # Chance's size: the lone run's own spread when one pixel of the photo moves by one grey level.
        spread = [objective(alone, photo, painting, weights=vgg19_path)["total"]]
        for k in (1, 2):
            nudged = np.asarray(photo).copy()
            nudged[k, k, 0] ^= 1
            again = run_gatys(Image.fromarray(nudged), [painting], opts)
            spread.append(objective(again, photo, painting, weights=vgg19_path)["total"])
        ours = objective(out, photo, painting, weights=vgg19_path)["total"]
        assert out.size == photo.size and ours <= 1.01 * max(spread), (ours, spread)


def test_a_cancelled_request_leaves_the_batch_and_the_others_finish(vgg19_path):
    from PIL import Image

    from nst_core.gatys_batch import run_gatys_batch

    photos = [Image.new("RGB", (48, 48), c) for c in ((200, 60, 30), (30, 90, 200))]
    paintings = [[Image.new("RGB", (48, 48), (20, 200, 40))]] * 2
    cancel = threading.Event()
    seen = []

    def cb(p):
        seen.append(p.step)
        if p.step == 3:
            cancel.set()

    opts = GatysOptions(size=48, steps=12, multiscale=False, loss_net_weights=str(vgg19_path))
    out = run_gatys_batch(photos, paintings, opts, cancels=[None, cancel], callback=cb)
    assert out[1] is None and out[0] is not None and max(seen) == 12
    with pytest.raises(Exception, match="one size"):
        run_gatys_batch([photos[0], Image.new("RGB", (48, 20))], paintings, opts)


def _state(opt: DeviceLBFGS) -> dict[str, torch.Tensor]:
    return {k: v for k, v in vars(opt).items() if isinstance(v, torch.Tensor)}


def test_a_step_keeps_every_tensor_of_the_state_where_it_was():
    """What a CUDA-graph replay needs: the step writes its state in place (a replay rewrites the storage the
    capture saw; a tensor rebound to new storage would be read stale on the next replay)."""
    *_, x, closure = _gatys_closure()

    opt = DeviceLBFGS(x, history=4)
    opt.step(closure)
    where = {k: v.data_ptr() for k, v in _state(opt).items()}
    for _ in range(9):  # past the history: the ring wraps
        opt.step(closure)
    assert {k: v.data_ptr() for k, v in _state(opt).items()} == where
    assert int(opt.count) == 9 and sorted(opt.stamp.tolist()) == [5, 6, 7, 8]


def _replayed_against_eager(device: str) -> tuple[list[float], list[float]]:
    from nst_core.lbfgs import Stepper

    runs = []
    for graphs in ("0", "1"):
        *_, x, closure = _gatys_closure(device)

        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("NST_CUDA_GRAPHS", graphs)
            step = Stepper(DeviceLBFGS(x, history=5), closure)
            runs.append([float(step()) for _ in range(12)])
            runs[-1].append(step.graph is not None)
    return runs[0], runs[1]


def test_the_stepper_on_a_cpu_is_the_optimiser_s_own_step():
    eager, other = _replayed_against_eager("cpu")
    assert eager == other and eager[-1] is False and eager[-2] < eager[0]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA: a CUDA graph is captured only there")
def test_a_replayed_cuda_graph_gives_the_eager_steps():
    eager, replayed = _replayed_against_eager("cuda")
    assert replayed[-1] is True, "the step was not captured (see the log)"
    assert replayed[:-1] == pytest.approx(eager[:-1], rel=1e-4)
