"""The Gatys batcher (nst_core.batching): concurrent requests of one size share one `run_gatys_batch` call, each
with its own progress, cancel and error, and the front ends feed it through `nst_core.stylize`.

Grouping and error delivery are checked with stand-ins for the two engines (what is asked of them is the
behaviour); pictures, cancel and progress with the real engine and the real VGG-19 at 48 px.
"""

from __future__ import annotations

import asyncio
import threading

import numpy as np
import pytest
import torch
from PIL import Image
from support import aio

import nst_core
from nst_core import Cancelled, DeviceOutOfMemory, batching
from nst_core.batching import BATCH_ENV, GatysBatcher, batch_limit, close_shared_batcher, shared_batcher
from nst_core.gatys import GatysOptions
from nst_core.gatys_batch import run_gatys_batch


def _picture(seed: int, size: tuple[int, int] = (48, 48)) -> Image.Image:
    """Smooth colour fields with a little noise: a photo's kind of content at a tiny size."""
    rng = np.random.default_rng(seed)
    low = rng.uniform(0, 255, (3, 4, 3)).astype(np.uint8)
    base = np.asarray(Image.fromarray(low, "RGB").resize(size, Image.Resampling.BICUBIC), dtype=float)
    return Image.fromarray((base + rng.normal(0, 10, base.shape)).clip(0, 255).astype(np.uint8), "RGB")


def _opts(weights=None, **kw) -> GatysOptions:
    base = {"size": 48, "steps": 8, "multiscale": False, "precision": "fp32", "preview_every": 0}
    return GatysOptions(loss_net_weights=str(weights) if weights else None, **{**base, **kw})


def _diff(a: Image.Image, b: Image.Image) -> float:
    """Mean absolute difference in 0-255 levels."""
    return float(np.abs(np.asarray(a, dtype=float) - np.asarray(b, dtype=float)).mean())


@pytest.fixture
def calls(monkeypatch):
    """The real engines, counted: [("batch", n pictures)] or [("alone", 1)] per call, in order."""
    seen: list[tuple[str, int]] = []
    real_batch, real_alone = batching.run_gatys_batch, batching.run_gatys

    def batch(contents, *a, **kw):
        seen.append(("batch", len(contents)))
        return real_batch(contents, *a, **kw)

    def alone(*a, **kw):
        seen.append(("alone", 1))
        return real_alone(*a, **kw)

    monkeypatch.setattr(batching, "run_gatys_batch", batch)
    monkeypatch.setattr(batching, "run_gatys", alone)
    return seen


@pytest.fixture
def stand_ins(monkeypatch):
    """Instant engines that record what they were asked: (kind, [painted sizes], steps)."""
    seen: list[tuple[str, list[tuple[int, int]], int]] = []

    def batch(contents, styles, opts, **kw):
        sizes = [nst_core.resize_long_side(c, opts.size).size for c in contents]
        seen.append(("batch", sizes, opts.steps))
        return [Image.new("RGB", s) for s in sizes]

    def alone(content, styles, opts, **kw):
        seen.append(("alone", [nst_core.resize_long_side(content, opts.size).size], opts.steps))
        return Image.new("RGB", content.size)

    monkeypatch.setattr(batching, "run_gatys_batch", batch)
    monkeypatch.setattr(batching, "run_gatys", alone)
    return seen


@pytest.fixture
def batcher():
    made: list[GatysBatcher] = []

    def make(max_batch: int, window_s: float = 5.0) -> GatysBatcher:
        made.append(GatysBatcher(max_batch, window_s=window_s))
        return made[-1]

    yield make
    for b in made:
        b.close(timeout=60)


def test_concurrent_requests_of_one_size_run_in_one_batch_as_each_would_alone(vgg19_path, calls, batcher):
    photos, paintings = [_picture(i) for i in range(3)], [_picture(10 + i) for i in range(3)]
    opts = _opts(vgg19_path)
    heard: list[list] = [[], [], []]
    b = batcher(3)  # a long window: the third request completes the batch, nobody waits for the window
    futures = [
        b.submit(p, [s], opts, callback=heard[i].append) for i, (p, s) in enumerate(zip(photos, paintings, strict=True))
    ]
    results = [f.result(timeout=300) for f in futures]
    assert calls == [("batch", 3)]
    for photo, painting, out, records in zip(photos, paintings, results, heard, strict=True):
        alone = run_gatys_batch([photo], [[painting]], opts)[0]
        assert out.size == photo.size and _diff(out, alone) < 1.0, _diff(out, alone)
        assert _diff(out, photo) > 5 * _diff(out, alone)  # it was painted, and the same way
        assert [p.step for p in records] == list(range(1, 9)) and records[-1].total == 8
    finals = [records[-1].losses["total"] for records in heard]
    assert len(set(finals)) == 3  # each request hears its own loss, not the batch's mean


def test_requests_of_other_sizes_or_options_go_to_other_batches(stand_ins, batcher):
    b = batcher(4, window_s=0.5)
    square, wide = _picture(0), _picture(1, (64, 48))
    futures = [
        b.submit(square, [square], _opts()),
        b.submit(wide, [square], _opts()),  # another painted size
        b.submit(square, [square], _opts(steps=9)),  # other options
        b.submit(square, [square], _opts()),
        b.submit(square, [square], _opts(preserve_colors=True)),  # batching cannot keep colours: alone
    ]
    for f in futures:
        f.result(timeout=30)
    assert sorted(stand_ins) == sorted(
        [
            ("batch", [(48, 48), (48, 48)], 8),
            ("alone", [(48, 36)], 8),
            ("alone", [(48, 48)], 9),
            ("alone", [(48, 48)], 8),
        ]
    )


def test_a_batch_holds_at_most_max_batch_requests(stand_ins, batcher):
    b = batcher(2, window_s=0.5)
    for f in [b.submit(_picture(i), [_picture(9)], _opts()) for i in range(5)]:
        f.result(timeout=30)
    assert [(kind, len(sizes)) for kind, sizes, _ in stand_ins] == [("batch", 2), ("batch", 2), ("alone", 1)]


def test_a_cancelled_request_hears_cancelled_at_once_and_the_others_finish(vgg19_path, batcher):
    b = batcher(2)
    stop, steps_b, a_saw_b_done = threading.Event(), [], []
    fut_b: list = []

    def on_a(p):
        if p.step == 7:
            a_saw_b_done.append(fut_b[0].done())

    def on_b(p):
        steps_b.append(p.step)
        if p.step == 3:
            stop.set()

    fut_a = b.submit(_picture(0), [_picture(5)], _opts(vgg19_path), callback=on_a)
    fut_b.append(b.submit(_picture(1), [_picture(6)], _opts(vgg19_path), callback=on_b, cancel=stop))
    assert isinstance(fut_a.result(timeout=300), Image.Image)
    with pytest.raises(Cancelled):
        fut_b[0].result(timeout=10)
    assert max(steps_b) <= 4 and a_saw_b_done == [True]  # B's future failed within a step, not at the end


def test_a_request_stopped_while_waiting_never_runs(stand_ins, batcher):
    stop = threading.Event()
    stop.set()
    fut = batcher(2, window_s=0.1).submit(_picture(0), [_picture(1)], _opts(), cancel=stop)
    with pytest.raises(Cancelled):
        fut.result(timeout=10)
    assert stand_ins == []


def test_an_exception_reaches_every_request_of_the_batch(monkeypatch, batcher):
    def boom(*a, **kw):
        raise RuntimeError("the loss network went away")

    monkeypatch.setattr(batching, "run_gatys_batch", boom)
    b = batcher(2)
    futures = [b.submit(_picture(i), [_picture(9)], _opts()) for i in range(2)]
    for f in futures:
        with pytest.raises(RuntimeError, match="went away"):
            f.result(timeout=30)


def test_a_batch_too_big_for_the_device_is_painted_one_by_one(monkeypatch, stand_ins, batcher):
    def oom(*a, **kw):
        raise torch.OutOfMemoryError("CUDA out of memory")

    monkeypatch.setattr(batching, "run_gatys_batch", oom)
    b = batcher(2)
    futures = [b.submit(_picture(i), [_picture(9)], _opts()) for i in range(2)]
    assert all(isinstance(f.result(timeout=30), Image.Image) for f in futures)
    assert [kind for kind, _, _ in stand_ins] == ["alone", "alone"]

    def oom_alone(*a, **kw):
        raise torch.OutOfMemoryError("CUDA out of memory")

    monkeypatch.setattr(batching, "run_gatys", oom_alone)
    with pytest.raises(DeviceOutOfMemory):
        b.submit(_picture(0), [_picture(9)], _opts()).result(timeout=30)


def test_a_bad_request_fails_alone_at_submit(stand_ins, batcher):
    b = batcher(2, window_s=0.1)
    with pytest.raises(nst_core.OptionsError):
        b.submit(_picture(0), [_picture(1)], _opts(steps=0))
    assert isinstance(b.submit(_picture(0), [_picture(1)], _opts()).result(timeout=30), Image.Image)


def test_close_fails_the_requests_still_waiting(stand_ins):
    b = GatysBatcher(2, window_s=30)
    fut = b.submit(_picture(0), [_picture(1)], _opts())  # waits for a partner that never comes
    b.close(timeout=30)
    with pytest.raises(RuntimeError, match="closed"):
        fut.result(timeout=1)
    with pytest.raises(RuntimeError, match="closed"):
        b.submit(_picture(0), [_picture(1)], _opts())


def test_the_switch_is_off_on_a_cpu_unless_set(monkeypatch):
    monkeypatch.delenv(BATCH_ENV, raising=False)
    assert batch_limit("cpu") == 1
    assert batch_limit("cpu", {BATCH_ENV: "4"}) == 4
    with pytest.raises(nst_core.OptionsError, match=BATCH_ENV):
        batch_limit("cpu", {BATCH_ENV: "0"})
    close_shared_batcher()
    assert shared_batcher() is None


@pytest.fixture
def switch_on(monkeypatch):
    """NST_GATYS_BATCH=2 for this process, a long window (the second request ends it), and off again after."""
    monkeypatch.setenv(BATCH_ENV, "2")
    monkeypatch.setattr(batching, "WINDOW_S", 30.0)
    close_shared_batcher()
    yield
    close_shared_batcher()


def test_stylize_batches_concurrent_gatys_calls_when_the_switch_is_on(vgg19_path, calls, switch_on):
    out: dict[int, Image.Image] = {}
    kw = {"size": 48, "steps": 6, "multiscale": False, "precision": "fp32", "loss_net_weights": str(vgg19_path)}

    def call(i: int) -> None:
        out[i] = nst_core.stylize(_picture(i), style_images=[_picture(7 + i)], **kw)

    threads = [threading.Thread(target=call, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    assert calls == [("batch", 2)] and sorted(out) == [0, 1]
    assert all(im.size == (48, 48) for im in out.values())


def test_the_bots_pool_feeds_one_batch_with_two_workers(vgg19_path, calls, switch_on, monkeypatch):
    from bots.config import CommonConfig
    from bots.jobs import StylizeService
    from bots.options import JobSpec

    monkeypatch.setenv("NST_VGG19_WEIGHTS", str(vgg19_path))
    config = CommonConfig(workers=2, max_per_user=2, gatys_steps=5, gatys_loss_net="vgg19", device="cpu")
    service = StylizeService(config)
    spec = JobSpec(None, "custom", size=48, method="gatys")

    async def job(user: str, seed: int) -> Image.Image:
        async with service.admit(user) as ticket:
            return await ticket.run(spec, _picture(seed), style_image=_picture(seed + 5))

    async def scenario() -> list[Image.Image]:
        try:
            return await asyncio.gather(job("ada", 0), job("bob", 1))
        finally:
            await service.close()

    results = aio.run(scenario())
    assert calls == [("batch", 2)] and [r.size for r in results] == [(48, 48), (48, 48)]


def test_the_demo_lets_a_batch_of_gatys_requests_in_at_once():
    from demo.config import load_config

    assert load_config({}, device="cpu").gatys_concurrency == 1
    assert load_config({BATCH_ENV: "4"}, device="cpu").gatys_concurrency == 4
    assert load_config({BATCH_ENV: "4", "NST_DEMO_GATYS_CONCURRENCY": "2"}, device="cpu").gatys_concurrency == 2


def test_a_stop_is_answered_while_the_request_still_waits_for_partners(stand_ins, batcher):
    stop = threading.Event()
    fut = batcher(2, window_s=30).submit(_picture(0), [_picture(1)], _opts(), cancel=stop)
    stop.set()
    with pytest.raises(Cancelled):
        batching.wait(fut, stop)  # not the picture the lone request would get once the window ends
