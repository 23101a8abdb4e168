"""Style registry: listing, validation of broken/foreign files, override order, model cache, saving and
importing pytorch/examples checkpoints. Tiny random networks in temporary weight folders only."""

from __future__ import annotations

import ast
import json
import logging
import os
import threading
import time
from pathlib import Path

import pytest
import torch
from PIL import Image

from nst_core import styles
from nst_core.errors import OptionsError, StyleNotFoundError, WeightsError
from nst_core.fast.transformer_net import TransformerConfig, TransformerNet

TINY = TransformerConfig((4, 8, 8), 1)


@pytest.fixture
def wdirs(tmp_path, monkeypatch):
    """(user_dir, repo_dir): NST_WEIGHTS_DIR and a stand-in for the repository's weights/ folder."""
    user, repo = tmp_path / "user", tmp_path / "repo"
    user.mkdir()
    repo.mkdir()
    monkeypatch.setenv(styles.WEIGHTS_ENV, str(user))
    monkeypatch.setattr(styles.registry, "REPO_WEIGHTS_DIR", repo)
    styles.clear_cache()
    yield user, repo
    styles.clear_cache()


def tiny_net(seed: int = 0, config: TransformerConfig = TINY) -> TransformerNet:
    torch.manual_seed(seed)
    return TransformerNet(config).eval()


def save(name: str, folder, seed: int = 0, **meta) -> None:
    meta.setdefault("display_name", name.title())
    styles.save_style(tiny_net(seed), name, folder, meta)


# ----------------------------------------------------------------------------------------------------- listing
def test_saved_style_is_listed_with_its_metadata(wdirs):
    user, _ = wdirs
    path = styles.save_style(
        tiny_net(), "wave", user, {"display_name": "The Great Wave", "artist": "Hokusai", "title": "Wave"}
    )
    assert path == user / "wave.safetensors"
    assert {p.name for p in user.iterdir()} == {"wave.safetensors", "wave.json", "wave.preview.jpg"}
    (info,) = styles.list_styles()
    assert (info.name, info.display_name, info.artist, info.title) == ("wave", "The Great Wave", "Hokusai", "Wave")
    assert info.config == TINY
    assert info.preview_path == user / "wave.preview.jpg"
    assert info.label == "The Great Wave - Hokusai"
    meta = json.loads((user / "wave.json").read_text())
    assert meta["config"]["channels"] == [4, 8, 8] and meta["date"] and meta["format"] == "nst-style"
    with Image.open(info.preview_path) as im:
        assert max(im.size) <= styles.PREVIEW_LONG_SIDE
    assert styles.get_style("wave") == info


def test_list_is_sorted_and_env_dirs_override_repo(wdirs, monkeypatch, tmp_path):
    user, repo = wdirs
    second = tmp_path / "second"
    save("zeta", repo)
    save("alpha", repo, display_name="Repo Alpha")
    save("alpha", second, display_name="Second Alpha")
    save("alpha", user, display_name="User Alpha")
    assert [s.name for s in styles.list_styles()] == ["alpha", "zeta"]
    assert styles.get_style("alpha").display_name == "User Alpha"
    monkeypatch.setenv(styles.WEIGHTS_ENV, os.pathsep.join([str(second), str(user)]))
    assert styles.weights_dirs() == [second, user, repo]
    assert styles.get_style("alpha").display_name == "Second Alpha"
    assert [s.display_name for s in styles.list_styles()] == ["Second Alpha", "Zeta"]


def test_broken_and_foreign_files_are_skipped_with_a_warning(wdirs, caplog):
    user, _ = wdirs
    save("good", user)
    # broken JSON
    save("badjson", user)
    (user / "badjson.json").write_text("{not json")
    # required key missing
    save("nokey", user)
    (user / "nokey.json").write_text(json.dumps({"artist": "x"}))
    # truncated weights
    save("trunc", user)
    data = (user / "trunc.safetensors").read_bytes()
    (user / "trunc.safetensors").write_bytes(data[: len(data) // 2])
    # foreign safetensors (no nst metadata) and a random file with the right suffix
    from safetensors.torch import save_file

    save_file({"w": torch.zeros(3)}, str(user / "foreign.safetensors"))
    (user / "foreign.json").write_text(json.dumps({"display_name": "Foreign"}))
    (user / "garbage.safetensors").write_bytes(b"\x00" * 5)
    (user / "garbage.json").write_text(json.dumps({"display_name": "Garbage"}))
    # shapes that do not match the config stored in the metadata
    save("mismatch", user)
    state = {k: v.clone() for k, v in tiny_net().state_dict().items()}
    state["in1.weight"] = torch.ones(5)
    meta = {"format": "nst-style", "version": "1", "name": "mismatch", "nst_config": TINY.to_json()}
    save_file(state, str(user / "mismatch.safetensors"), metadata=meta)
    # weights without JSON, JSON without weights, unrelated file, bad name, ignored dotfile/readme
    save("orphan", user)
    (user / "orphan.json").unlink()
    (user / "lonely.json").write_text(json.dumps({"display_name": "Lonely"}))
    (user / "notes.txt").write_text("hello")
    (user / "Bad Name.safetensors").write_bytes(b"")
    (user / ".gitkeep").write_text("")
    (user / "README.md").write_text("# styles")

    with caplog.at_level(logging.WARNING, logger="nst_core.styles"):
        listed = [s.name for s in styles.list_styles()]
    assert listed == ["good"]
    text = caplog.text
    for bad in ("badjson.json", "nokey.json", "trunc.safetensors", "foreign.safetensors", "garbage.safetensors"):
        assert bad in text, bad
    for bad in ("mismatch.safetensors", "orphan.safetensors", "lonely.json", "notes.txt", "Bad Name"):
        assert bad in text, bad
    assert ".gitkeep" not in text and "README" not in text
    assert "truncated" in text

    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="nst_core.styles"):
        styles.list_styles()
    assert caplog.text == ""  # said once, not on every listing

    with pytest.raises(StyleNotFoundError, match="broken"):
        styles.get_style("trunc")


def test_broken_override_falls_back_to_the_next_folder(wdirs):
    user, repo = wdirs
    save("mono", repo, display_name="Repo")
    save("mono", user, display_name="User")
    (user / "mono.json").write_text("[]")
    assert styles.get_style("mono").display_name == "Repo"


def test_missing_folders_are_fine(wdirs, monkeypatch, tmp_path):
    monkeypatch.setenv(styles.WEIGHTS_ENV, str(tmp_path / "does-not-exist"))
    monkeypatch.setattr(styles.registry, "REPO_WEIGHTS_DIR", tmp_path / "nor-this")
    assert styles.list_styles() == []


@pytest.mark.parametrize("bad", ["../etc", "a/b", "", "Upper", "-dash", "x" * 65, "a.b", None])
def test_invalid_names(wdirs, bad):
    user, _ = wdirs
    with pytest.raises(StyleNotFoundError):
        styles.get_style(bad)
    with pytest.raises(OptionsError, match="invalid style name"):
        styles.save_style(tiny_net(), bad, user, {"display_name": "x"})
    assert list(user.iterdir()) == []


def test_unknown_style_lists_the_available_ones(wdirs):
    save("candy", wdirs[0])
    with pytest.raises(StyleNotFoundError, match=r"Unknown style 'nope'.*candy"):
        styles.get_style("nope")


# ----------------------------------------------------------------------------------------------------- loading
def test_load_returns_cached_model_with_the_saved_weights(wdirs):
    user, _ = wdirs
    net = tiny_net(3)
    styles.save_style(net, "cached", user, {"display_name": "Cached"})
    a = styles.load_style_model("cached", "cpu")
    assert a is styles.load_style_model("cached", torch.device("cpu"))
    assert not a.training and not any(p.requires_grad for p in a.parameters())
    x = torch.rand(1, 3, 24, 20) * 255
    with torch.inference_mode():
        assert torch.equal(a(x), net(x))
    b = styles.load_style_model("cached", "cpu", torch.float64)
    assert b is not a and next(b.parameters()).dtype == torch.float64


def test_cache_is_thread_safe(wdirs, monkeypatch):
    """Six threads ask for one style at once while reading the file is slow (the race window held open): the file is
    read once and every thread gets the same module. Without the cache lock each thread would load its own."""
    save("threads", wdirs[0])
    styles.clear_cache()
    reads = []
    real_read = styles.read_style_weights

    def slow_read(path):
        reads.append(path)
        time.sleep(0.2)
        return real_read(path)

    monkeypatch.setattr(styles.loader, "read_style_weights", slow_read)
    start = threading.Barrier(6)
    results, errors = [], []

    def work():
        try:
            start.wait()
            results.append(styles.load_style_model("threads", "cpu"))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(reads) == 1 and len({id(m) for m in results}) == 1 and len(results) == 6


def test_overwritten_file_is_reloaded(wdirs):
    user, _ = wdirs
    save("retrain", user, seed=1)
    first = styles.load_style_model("retrain")
    save("retrain", user, seed=2)
    st = os.stat(user / "retrain.safetensors")
    os.utime(user / "retrain.safetensors", ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    second = styles.load_style_model("retrain")
    assert second is not first
    assert not torch.equal(first.conv1.conv2d.weight, second.conv1.conv2d.weight)


def test_half_precision_weights_roundtrip(wdirs):
    user, _ = wdirs
    net = tiny_net(4)
    path = styles.save_style(net, "small", user, {"display_name": "Small"}, weights_dtype=torch.float16)
    config, state = styles.read_style_weights(path)
    assert config == TINY and all(v.dtype == torch.float32 for v in state.values())
    w = net.conv1.conv2d.weight
    assert torch.allclose(state["conv1.conv2d.weight"], w, atol=1e-3 * w.abs().max().item())


def test_save_is_atomic_and_leaves_no_temp_files(wdirs):
    user, _ = wdirs
    save("atomic", user)
    save("atomic", user, seed=1)
    assert sorted(p.name for p in user.iterdir()) == ["atomic.json", "atomic.preview.jpg", "atomic.safetensors"]


def test_save_uses_a_given_preview(wdirs):
    user, _ = wdirs
    styles.save_style(tiny_net(), "given", user, {"display_name": "G"}, Image.new("RGB", (600, 300), "red"))
    with Image.open(user / "given.preview.jpg") as im:
        assert im.size == (256, 128)
        r, g, b = im.getpixel((10, 10))
        assert r > 200 and g < 60 and b < 60


# --------------------------------------------------------------------------------------------------- importing
def _examples_style_checkpoint(tmp_path, net: TransformerNet, wrap: bool = False):
    """A .pth as old pytorch/examples versions wrote it: a plain state dict, with InstanceNorm running stats."""
    sd = dict(net.state_dict())
    for k in [k for k in sd if k.startswith("in") or ".in" in k]:
        if k.endswith(".weight"):
            base = k[: -len(".weight")]
            sd[base + ".running_mean"] = torch.zeros_like(sd[k])
            sd[base + ".running_var"] = torch.ones_like(sd[k])
    path = tmp_path / "examples_style.pth"
    torch.save({"state_dict": sd} if wrap else sd, path)
    return path


@pytest.mark.parametrize("wrap", [False, True])
def test_import_pytorch_examples_checkpoint_gives_identical_outputs(wdirs, tmp_path, wrap):
    user, _ = wdirs
    torch.manual_seed(7)
    net = TransformerNet(TransformerConfig((8, 16, 16), 2)).eval()
    pth = _examples_style_checkpoint(tmp_path, net, wrap)
    out = styles.import_torch_checkpoint(pth, "imported", user, {"display_name": "Imported", "artist": "Me"})
    assert out == user / "imported.safetensors"
    info = styles.get_style("imported")
    assert info.artist == "Me" and info.config == TransformerConfig((8, 16, 16), 2)
    assert info.meta["source"] == "examples_style.pth" and info.preview_path is not None
    model = styles.load_style_model("imported")
    x = torch.rand(1, 3, 32, 28) * 255
    with torch.inference_mode():
        assert torch.equal(model(x), net(x))


def test_import_reference_size_checkpoint_with_preview_content(wdirs, tmp_path):
    user, _ = wdirs
    net = TransformerNet().eval()
    pth = _examples_style_checkpoint(tmp_path, net)
    content = Image.new("RGB", (80, 60), (10, 200, 30))
    styles.import_torch_checkpoint(pth, "reference", user, preview_content=content)
    info = styles.get_style("reference")
    assert info.display_name == "Reference" and info.config.channels == (32, 64, 128)
    with Image.open(info.preview_path) as im:
        assert im.size == (80, 60)


def test_import_rejects_bad_checkpoints(wdirs, tmp_path):
    user, _ = wdirs
    wrong = tmp_path / "wrong.pth"
    sd = dict(tiny_net().state_dict())
    sd["conv1.conv2d.weight"] = torch.zeros(4, 3, 3, 3)
    torch.save(sd, wrong)
    with pytest.raises(WeightsError, match="do not fit"):
        styles.import_torch_checkpoint(wrong, "wrong", user)
    other = tmp_path / "other.pth"
    torch.save({"fc.weight": torch.zeros(2, 2)}, other)
    with pytest.raises(WeightsError, match="not a TransformerNet"):
        styles.import_torch_checkpoint(other, "other", user)
    notdict = tmp_path / "list.pth"
    torch.save([1, 2, 3], notdict)
    with pytest.raises(WeightsError):
        styles.import_torch_checkpoint(notdict, "notdict", user)
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(WeightsError, match=r"^checkpoint junk\.pth is not a PyTorch weights file$"):
        styles.import_torch_checkpoint(junk, "junk", user)
    with pytest.raises(WeightsError, match="not found"):
        styles.import_torch_checkpoint(tmp_path / "absent.pth", "absent", user)
    assert list(user.iterdir()) == []


def test_import_refuses_pickled_code(wdirs, tmp_path):
    """weights_only=True: a checkpoint that would run code on load is refused, not executed."""
    user, _ = wdirs
    evil = tmp_path / "evil.pth"
    torch.save({"conv1.conv2d.weight": torch.zeros(1), "x": _Evil()}, evil)
    with pytest.raises(WeightsError, match="holds Python objects besides tensors") as err:
        styles.import_torch_checkpoint(evil, "evil", user)
    assert "weights_only=False" not in str(err.value) and "\n" not in str(err.value)


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo should-not-run",))


# ------------------------------------------------------------------------------------------- default by score
def test_default_style_is_the_best_scored_not_the_first_by_name(wdirs):
    user, _ = wdirs
    assert styles.default_style() is None  # nothing installed
    save("aaa", user, seed=1)
    save("bbb", user, seed=2)
    save("ccc", user, seed=3)
    assert styles.default_style().name == "aaa"  # no scores anywhere: the first by name
    styles.record_scores("aaa", {"structure": 0.95, "style_ratio": 0.10})  # buries the photo
    styles.record_scores("bbb", {"structure": 0.50, "style_ratio": 0.60})  # barely styled
    styles.record_scores("ccc", {"structure": 0.60, "style_ratio": 0.20})  # second on both: best overall
    assert styles.default_style().name == "ccc"
    meta = json.loads((user / "ccc.json").read_text())
    assert meta["scores"] == {"structure": 0.60, "style_ratio": 0.20} and meta["display_name"] == "Ccc"


def test_unscored_or_malformed_scores_never_win(wdirs):
    user, _ = wdirs
    save("aaa", user, seed=1, scores={"structure": "low", "style_ratio": None})
    save("zzz", user, seed=2, scores={"structure": 0.9, "style_ratio": 0.9})
    assert styles.default_style().name == "zzz"


def test_people_can_name_a_style_loosely(wdirs):
    user, _ = wdirs
    save("starry_night", user, seed=1, display_name="Starry Night", artist="Vincent van Gogh")
    save("wheat_field", user, seed=2, display_name="Wheat Field", artist="Vincent van Gogh")
    save("great_wave", user, seed=3, display_name="The Great Wave", artist="Hokusai")

    def names(query):
        return [s.name for s in styles.match_styles(query)]

    assert (
        names("Starry Night") == names("starry_night") == names("STARRY") == names("starry-night") == ["starry_night"]
    )
    assert names("Starry Night - Vincent van Gogh") == ["starry_night"]  # a menu label, pasted
    assert names("great wave") == names("hokusai") == ["great_wave"]
    assert names("van gogh") == ["starry_night", "wheat_field"]  # ambiguous: the caller asks which
    assert names("monet") == names("  ") == names("!!") == []


def test_registry_and_file_format_need_no_torch():
    """timm's split: the registry knows names and files, not convolutions (read from the modules' own imports)."""
    core = Path(styles.__file__).resolve().parents[1]
    torch_free = {"lazy", "fast", "fast.architecture", "atomic", "errors", "styles.registry", "styles.fileformat"}
    for name in torch_free:
        path = core / (name.replace(".", "/") + ".py")
        path = path if path.exists() else path.with_suffix("") / "__init__.py"  # a package: its lazy __init__
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:  # module level: an import inside a function is only paid when it is called
            if isinstance(node, ast.ImportFrom) and node.level:  # within nst_core: only torch-free modules
                package = name.split(".")[: -node.level]
                assert ".".join([*package, node.module or ""]) in torch_free, (name, node.module)
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                modules = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                assert not {m.split(".")[0] for m in modules} & {"torch", "safetensors", "PIL", "nst_core"}, name
