"""Feed-forward training: data stream, checkpoints, exact resume, CLI end to end, DDP on CPU, real VGG-19.

Everything runs at 32-64 px for a few steps with a random-init loss net (except the one real-weights test), so
the file stays well under a minute on two shared cores.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from nst_core import styles
from nst_core import train as T
from nst_core.errors import OptionsError

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """Tiny tensors: one thread is faster than two fighting for a shared, busy CPU (and results are the same)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> tuple[Path, Path]:
    """Six random-colour photos in a nested tree, one corrupt file, one non-image, and a style image."""
    root = tmp_path_factory.mktemp("tiny")
    ds = root / "photos"
    (ds / "a" / "b").mkdir(parents=True)
    (ds / ".hidden").mkdir()
    rng = np.random.default_rng(0)
    for i in range(6):
        folder = ds if i < 2 else ds / "a" if i < 4 else ds / "a" / "b"
        base = rng.integers(0, 255, 3)
        arr = (base + rng.integers(-40, 40, (36 + 3 * i, 44, 3))).clip(0, 255).astype(np.uint8)
        Image.fromarray(arr).save(folder / f"photo{i}.png")
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(ds / ".hidden" / "skipme.png")
    (ds / "a" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not really a jpeg")
    (ds / "notes.txt").write_text("not an image")
    style = root / "style.png"
    yy, xx = np.mgrid[0:48, 0:64]
    stripes = np.stack([(xx % 8 < 4) * 255, (yy % 6 < 3) * 200, np.full_like(xx, 60)], -1).astype(np.uint8)
    Image.fromarray(stripes).save(style)
    return ds, style


def _args(
    tiny: tuple[Path, Path],
    out: Path,
    *extra: str,
    steps: int = 4,
    name: str = "tiny",
    loss_net: str = "squeezenet",
    weights: str = "random",
) -> list[str]:
    """Random-init SqueezeNet by default: ~20x cheaper to build and run than VGG-19, same code paths."""
    ds, style = tiny
    return [
        "--style-image", str(style), "--dataset", str(ds), "--name", name, "--steps", str(steps),
        "--batch-size", "2", "--image-size", "32", "--loss-net", loss_net, "--loss-net-weights", weights,
        "--device", "cpu",
        "--out", str(out / "weights"), "--run-dir", str(out / "run"), "--val-count", "2",
        "--preview-every", "2", "--checkpoint-every", "2", "--log-every", "1", *extra,
    ]  # fmt: skip


def _run(args: list[str], **kw) -> dict:
    return T.train(T.parse_args(args), **kw)


def _final_state(out: Path) -> dict:
    return T.load_checkpoint(out / "run" / T.CHECKPOINT_NAME)


def _assert_same_training(a: dict, b: dict) -> None:
    assert a["step"] == b["step"]
    for k, v in a["model"].items():
        assert torch.equal(v, b["model"][k]), k
    sa, sb = a["optimizer"]["state"], b["optimizer"]["state"]
    assert sa.keys() == sb.keys()
    for k in sa:
        for name, v in sa[k].items():
            assert torch.equal(v, sb[k][name]), (k, name)


@pytest.fixture(scope="module")
def uninterrupted(tiny, tmp_path_factory) -> dict:
    """The reference: 4 steps in one go."""
    out = tmp_path_factory.mktemp("uninterrupted")
    _run(_args(tiny, out))
    return _final_state(out)


# ------------------------------------------------------------------------------------------------ data stream
def test_ddp_ranks_split_the_single_process_batch():
    single = list(T.StreamBatchSampler(5, 4, seed=3, start_step=0, total_steps=6))
    ranks = [
        list(T.StreamBatchSampler(5, 2, seed=3, start_step=0, total_steps=6, rank=r, world_size=2)) for r in range(2)
    ]
    assert [r0 + r1 for r0, r1 in zip(*ranks, strict=True)] == single
    files = [k[0] for batch in single for k in batch]
    for epoch in range(4):  # 24 positions over 5 files: every epoch is a permutation
        assert sorted(files[5 * epoch : 5 * epoch + 5]) == list(range(5))
    assert len({k[1] for batch in single for k in batch}) == 24  # every sample gets its own crop seed
    assert list(T.StreamBatchSampler(5, 4, seed=3, start_step=2, total_steps=6)) == single[2:]
    assert list(T.StreamBatchSampler(5, 4, seed=4, start_step=0, total_steps=6)) != single


def test_dataset_scan_holdout_and_crops(tiny):
    ds, _ = tiny
    found = T.find_images(ds)
    assert len(found) == 7 and not any(".hidden" in p.parts for p in found)  # 6 photos + the broken jpg
    readable = [p for p in found if T._readable(p)]
    assert len(readable) == 6
    train, val = T.split_holdout(readable, ds, 2)
    assert len(val) == 2 and not set(train) & set(val)
    assert T.split_holdout(list(reversed(readable)), ds, 2)[1] == val  # order-independent
    assert T.split_holdout(readable[:1], ds, 8) == (readable[:1], [])  # always keeps a training photo
    dataset = T.CropDataset(found, 32, 0.6)
    x, failed = dataset[(found.index(ds / "a" / "broken.jpg"), 7)]  # undecodable: next file instead, counted
    assert x.shape == (3, 32, 32) and x.dtype == torch.uint8 and failed == (str(ds / "a" / "broken.jpg"),)
    assert torch.equal(dataset[(0, 123)][0], dataset[(0, 123)][0])
    assert not torch.equal(dataset[(0, 123)][0], dataset[(0, 124)][0])


def test_checkpoint_write_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "c.pt"
    T.save_checkpoint(path, {"step": 1, "rng": T.capture_rng(torch.device("cpu"))})

    def dies_halfway(obj, f):
        Path(f).write_bytes(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", dies_halfway)
    with pytest.raises(OSError):
        T.save_checkpoint(path, {"step": 2})
    assert T.load_checkpoint(path)["step"] == 1  # old checkpoint intact, loads with weights_only=True
    assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]  # no temp file left behind


def test_rng_state_round_trip():
    dev = torch.device("cpu")
    state = T.capture_rng(dev)
    a = (torch.rand(3), np.random.rand(3), __import__("random").random())
    T.restore_rng(state, dev)
    b = (torch.rand(3), np.random.rand(3), __import__("random").random())
    assert torch.equal(a[0], b[0]) and np.array_equal(a[1], b[1]) and a[2] == b[2]


# ----------------------------------------------------------------------------------------------------- resume
def test_resume_after_crash_matches_uninterrupted(tiny, tmp_path, uninterrupted):
    def crash(step: int) -> None:
        if step == 3:  # after the step-2 checkpoint, before the next one: step 3 is lost, as in a kill -9
            raise RuntimeError("simulated crash")

    with pytest.raises(RuntimeError, match="simulated crash"):
        _run(_args(tiny, tmp_path), on_step=crash)
    assert _final_state(tmp_path)["step"] == 2
    assert not (tmp_path / "weights" / "tiny.json").exists()
    _run(_args(tiny, tmp_path, "--resume"))
    _assert_same_training(_final_state(tmp_path), uninterrupted)


def test_steps_then_resume_with_more_steps_matches(tiny, tmp_path, uninterrupted):
    _run(_args(tiny, tmp_path, steps=2))
    _run(_args(tiny, tmp_path, "--resume", "--workers", "1"))  # worker count does not change the stream
    _assert_same_training(_final_state(tmp_path), uninterrupted)


def test_sigterm_stops_cleanly_with_checkpoint_and_resumes(tiny, tmp_path, uninterrupted):
    def term(step: int) -> None:
        if step == 1:
            os.kill(os.getpid(), signal.SIGTERM)

    with pytest.raises(T.TrainingStopped):
        _run(_args(tiny, tmp_path, "--checkpoint-every", "0"), on_step=term)
    assert _final_state(tmp_path)["step"] == 2  # the step in flight finished, then a checkpoint
    _run(_args(tiny, tmp_path, "--resume"))
    _assert_same_training(_final_state(tmp_path), uninterrupted)


def test_resume_refuses_changed_settings_and_never_clobbers(tiny, tmp_path):
    _run(_args(tiny, tmp_path, steps=1))
    with pytest.raises(OptionsError, match="lr"):
        _run(_args(tiny, tmp_path, "--resume", "--lr", "0.01"))
    with pytest.raises(OptionsError, match="--resume"):
        _run(_args(tiny, tmp_path))  # an existing checkpoint is not overwritten silently
    with pytest.raises(OptionsError, match="already installed"):
        _run(_args(tiny, tmp_path, "--overwrite", steps=1))  # ...nor the style the first run installed
    _run(_args(tiny, tmp_path, "--overwrite", "--force", steps=1))


def test_time_budget_installs_what_it_has(tiny, tmp_path):
    summary = _run(_args(tiny, tmp_path, "--max-minutes", "1e-6", steps=50))
    assert summary["steps"] == 1 and _final_state(tmp_path)["step"] == 1
    meta = json.loads((tmp_path / "weights" / "tiny.json").read_text())
    assert meta["steps"] == 1 and meta["planned_steps"] == 50 and "time budget" in meta["stopped_early"]


def test_init_from_fine_tunes_a_trained_style(tiny, tmp_path, monkeypatch):
    _run(_args(tiny, tmp_path / "a", "--arch", "reference", steps=2))  # not the CPU default: must be inferred below
    trained = tmp_path / "a" / "weights" / "tiny.safetensors"
    _, start = styles.read_style_weights(trained)
    # a vanishing learning rate: the tuned net must be the one it started from, not a fresh random init
    _run(
        _args(
            tiny,
            tmp_path / "b",
            "--init-from",
            str(trained),
            "--lr",
            "1e-12",
            "--preview-image",
            "builtin",
            name="tuned",
            steps=1,
        )
    )
    _, tuned = styles.read_style_weights(tmp_path / "b" / "weights" / "tuned.safetensors")
    assert tuned.keys() == start.keys()
    for k in start:
        torch.testing.assert_close(tuned[k], start[k], rtol=0, atol=1e-6, msg=k)
    meta = json.loads((tmp_path / "b" / "weights" / "tuned.json").read_text())
    assert meta["training"]["init_from"] == "tiny.safetensors" and meta["training"]["arch"] == "reference"
    assert meta["init_from"]["weights"] == "tiny.safetensors" and meta["init_from"]["steps"] == 2  # its history
    assert meta["training"]["preview_image"] == "builtin"  # the synthetic scene: 256 px square, not a photo
    assert Image.open(tmp_path / "b" / "weights" / "tuned.preview.jpg").size == (256, 256)
    monkeypatch.setenv(styles.WEIGHTS_ENV, str(tmp_path / "a" / "weights"))  # by registry name too
    _run(_args(tiny, tmp_path / "c", "--init-from", "tiny", "--lr", "1e-12", name="byname", steps=1))
    _, byname = styles.read_style_weights(tmp_path / "c" / "weights" / "byname.safetensors")
    torch.testing.assert_close(byname, start, rtol=0, atol=1e-6)
    with pytest.raises(OptionsError, match="reference network but --arch light"):
        _run(_args(tiny, tmp_path / "d", "--init-from", "tiny", "--arch", "light"))
    with pytest.raises(OptionsError, match="no such file"):
        _run(_args(tiny, tmp_path / "e", "--init-from", str(tmp_path / "missing.safetensors")))


def test_resume_of_a_fine_tune_keeps_its_start_and_history(tiny, tmp_path, monkeypatch):
    """--resume continues the checkpoint: the --init-from file is neither re-read nor needed (here: deleted)."""
    _run(_args(tiny, tmp_path / "a", "--arch", "reference", steps=2))
    start = tmp_path / "a" / "weights" / "tiny.safetensors"
    _run(_args(tiny, tmp_path / "b", "--init-from", str(start), name="tuned", steps=1))
    start.unlink()
    _run(_args(tiny, tmp_path / "b", "--resume", name="tuned", steps=2))  # no --init-from, --arch auto
    meta = json.loads((tmp_path / "b" / "weights" / "tuned.json").read_text())
    assert meta["steps"] == 2 and meta["training"]["arch"] == "reference"
    assert meta["init_from"]["weights"] == "tiny.safetensors" and meta["init_from"]["steps"] == 2


# ------------------------------------------------------------------------------------------- command line, DDP
def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NST_")}
    env.update(OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))
    return env


def test_cli_trains_and_installs_style(tiny, tmp_path, monkeypatch):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "nst_core.train",
            *_args(tiny, tmp_path, "--artist", "Test Artist", "--notes", "tiny test run", steps=3),
        ],
        cwd=REPO,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "1 unreadable skipped" in proc.stderr and "images/s" in proc.stderr
    assert "held-out evaluation (2 photos)" in proc.stderr
    monkeypatch.setenv(styles.WEIGHTS_ENV, str(tmp_path / "weights"))
    info = styles.get_style("tiny")
    assert info.display_name == "Tiny" and info.artist == "Test Artist" and info.preview_path is not None
    meta = info.meta
    assert meta["steps"] == 3 and meta["images_seen"] == 6 and meta["images_per_s"] > 0
    assert meta["notes"] == "tiny test run" and meta["style_image"] == "style.png"
    assert meta["dataset"] == {"name": "photos", "train_images": 4, "held_out": 2, "skipped_unreadable": 1}
    assert set(meta["eval"]) >= {"held_out_images", "content", "style", "tv", "total"}
    assert meta["training"]["arch"] == "light" and meta["training"]["image_size"] == 32
    assert str(tmp_path) not in json.dumps(meta)  # no local paths in shipped metadata
    assert sorted(p.name for p in (tmp_path / "run" / "previews").iterdir()) == ["step_0000002.jpg"]
    model = styles.load_style_model("tiny")
    assert model(torch.full((1, 3, 20, 28), 128.0)).shape == (1, 3, 20, 28)
    styles.clear_cache()


def test_ddp_two_processes_on_cpu(tiny, tmp_path):
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        "-m",
        "nst_core.train",
        *_args(tiny, tmp_path, name="ddp", steps=3),
    ]
    proc = subprocess.run(cmd, cwd=REPO, env=_env(), capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert proc.stderr.count("style 'ddp' installed") == 1  # only rank 0 writes and reports
    ckpt = _final_state(tmp_path)
    assert ckpt["step"] == 3 and ckpt["world_size"] == 2
    meta = json.loads((tmp_path / "weights" / "ddp.json").read_text())
    assert meta["images_seen"] == 3 * 2 * 2 and meta["device"].endswith("x 2")


# ----------------------------------------------------------------------------------------------- real weights
@pytest.mark.slow
def test_two_steps_with_real_vgg19(tiny, tmp_path, vgg19_path):
    args = _args(tiny, tmp_path, "--image-size", "64", name="real", steps=2, loss_net="vgg19", weights=str(vgg19_path))
    summary = _run(args)
    assert all(np.isfinite(v) for v in summary["eval"].values())
    meta = json.loads((tmp_path / "weights" / "real.json").read_text())
    assert meta["loss_net"]["convention"] == "caffe"  # picked up from the weights' sidecar JSON
    assert meta["loss_net"]["weights"] == "vgg19_caffe_imagenet_conv.pth"
    assert meta["training"]["loss_net_weights"] == "vgg19_caffe_imagenet_conv.pth"
