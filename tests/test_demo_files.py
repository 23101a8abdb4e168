"""demo/files.py: results get safe, fresh names, and the sweep of old results keeps everything else in the folder
(the built-in example scene, gallery tiles, bundled or operator pictures), however old."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from PIL import Image

from demo.config import DemoConfig
from demo.examples import builtin_photo
from demo.files import result_path, safe_label, sweep
from demo.handlers import Stylist

ASSETS = Path(__file__).resolve().parents[1] / "demo" / "assets"
DAY = 24 * 3600


def _age(path: Path, seconds: float) -> Path:
    then = time.time() - seconds
    os.utime(path, (then, then))
    return path


def test_result_names_are_safe_and_fresh(tmp_path):
    a = result_path(tmp_path, "../../etc/Starry Night!", ".png", ttl=60)
    b = result_path(tmp_path, "../../etc/Starry Night!", ".png", ttl=60)
    assert a.parent == tmp_path and a != b
    assert a.name.startswith("nst_") and "/" not in a.name[4:] and " " not in a.name
    assert safe_label("", "style") == "style" and len(safe_label("x" * 100, "style")) == 40


def test_the_sweep_deletes_old_results_only(tmp_path):
    kept = [
        _age(builtin_photo(tmp_path), DAY),  # example_scene.png: the page's own example, written once per server
        _age(shutil.copy(ASSETS / "photos" / "cat.jpg", tmp_path / "cat.jpg"), DAY),
        _age(shutil.copy(ASSETS / "paintings" / "udnie.jpg", tmp_path / "nst_udnie.png"), DAY),  # not our pattern
    ]
    tile = tmp_path / "tile-udnie-starry_night-1a.jpg"
    Image.new("RGB", (8, 8)).save(tile)
    kept.append(_age(tile, DAY))
    old = result_path(tmp_path, "udnie", ".png", ttl=60)
    Image.new("RGB", (8, 8)).save(old)
    _age(old, DAY)
    fresh = result_path(tmp_path, "video_udnie", ".mp4", ttl=60)  # this call sweeps `old`
    fresh.write_bytes(b"")
    assert not old.exists() and all(p.exists() for p in kept)
    sweep(tmp_path, ttl=60)
    assert fresh.exists()


def test_saving_a_result_keeps_the_example_scene_and_the_bundled_assets(tmp_path):
    """The *.png sweep of old used to delete example_scene.png once it was older than the file TTL."""
    stylist = Stylist(DemoConfig(device="cpu", file_ttl=60), out_dir=tmp_path)
    scene = _age(builtin_photo(tmp_path), DAY)
    saved = Path(stylist._save_png(Image.new("RGB", (8, 8)), "udnie"))
    assert saved.is_file() and scene.is_file()
    assets = shutil.copytree(ASSETS, tmp_path / "assets")  # a copy: a broken sweep must not eat the repo's
    before = sorted(p.relative_to(assets) for p in assets.rglob("*"))
    for folder in (assets, assets / "photos", assets / "paintings"):
        sweep(folder, ttl=0)  # even pointed at the bundled folders with no TTL: nothing there is a result
    assert sorted(p.relative_to(assets) for p in assets.rglob("*")) == before
