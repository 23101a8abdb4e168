"""Shared fixtures: where the offline data lives, and skips that say exactly why."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("NST_SHARED_DATA", REPO.parent / "shared" / "data"))

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


def _need(path: Path, what: str) -> Path:
    if not path.exists():
        pytest.skip(f"{what} absent: {path} not found (set NST_SHARED_DATA to the folder with MANIFEST.md)")
    return path


@pytest.fixture(scope="session")
def shared_data() -> Path:
    return _need(SHARED, "offline data folder")


@pytest.fixture(scope="session")
def vgg19_path() -> Path:
    return _need(SHARED / "pretrained" / "vgg19_caffe_imagenet_conv.pth", "real ImageNet VGG-19 weights")


@pytest.fixture(scope="session")
def squeezenet_path() -> Path:
    return _need(SHARED / "pretrained" / "squeezenet1_1_imagenet.pth", "real ImageNet SqueezeNet 1.1 weights")


@pytest.fixture(scope="session")
def candy_path() -> Path:
    return _need(SHARED / "reference_models" / "candy.pth", "pytorch/examples candy checkpoint")


@pytest.fixture(scope="session")
def content_dir() -> Path:
    return _need(SHARED / "content", "content photos")


@pytest.fixture(scope="session")
def styles_dir() -> Path:
    return _need(SHARED / "styles", "style paintings")


@pytest.fixture(autouse=True)
def _no_user_weight_env(monkeypatch):
    """Tests choose their weights explicitly; a developer's own NST_* variables must not leak in."""
    for var in ("NST_VGG19_WEIGHTS", "NST_VGG16_WEIGHTS", "NST_SQUEEZENET_WEIGHTS"):
        monkeypatch.delenv(var, raising=False)
