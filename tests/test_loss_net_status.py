"""What a server asks at start-up: which loss networks load here (never downloading), and why not in plain words;
and a failed load's two messages, the operator's (what was tried, how to fix it) and the visitor's (no paths)."""

from __future__ import annotations

import shutil

import pytest
from PIL import Image

import nst_core
from nst_core.arbitrary import WEIGHTS_ENV, load_arbitrary
from nst_core.errors import WeightsError
from nst_core.lossnets import loss_net_status


def test_a_network_without_weights_is_not_available_and_nothing_is_downloaded(offline_hub, monkeypatch):
    import torchvision.models._api as tv_api

    monkeypatch.setattr(tv_api, "load_state_dict_from_url", lambda *a, **k: pytest.fail("must not download"))
    status = loss_net_status("vgg19")
    assert not status.available
    assert status.reason == "VGG-19 is not installed on this server."
    assert "torch hub cache" in status.detail and "Fix:" in status.detail  # the operator's part


def test_the_environment_file_is_checked(squeezenet_path, tmp_path, offline_hub, monkeypatch):
    monkeypatch.setenv("NST_SQUEEZENET_WEIGHTS", str(squeezenet_path))
    status = loss_net_status("squeezenet")
    assert status.available and "$NST_SQUEEZENET_WEIGHTS" in status.source
    broken = tmp_path / "broken.pth"
    broken.write_bytes(b"not a checkpoint")
    monkeypatch.setenv("NST_SQUEEZENET_WEIGHTS", str(broken))
    status = loss_net_status("squeezenet")
    assert not status.available and status.reason == "SqueezeNet's weights on this server cannot be read."
    assert "broken.pth" in status.detail and str(tmp_path) not in status.reason


def test_the_hub_cache_counts(squeezenet_path, offline_hub):
    (offline_hub / "checkpoints").mkdir(parents=True)
    shutil.copy(squeezenet_path, offline_hub / "checkpoints" / "squeezenet1_1-b8a52dc0.pth")
    assert loss_net_status("squeezenet").available
    assert not loss_net_status("vgg19").available


def test_a_failed_download_tells_the_visitor_without_paths_or_advice(offline_hub):
    """The real engine, offline: the operator's message keeps the tried list and the fix; the visitor's is one
    sentence that keeps the download's own words (`<urlopen error ...>`) and no path."""
    photo = Image.new("RGB", (32, 24), (90, 120, 200))
    with pytest.raises(WeightsError) as err:
        nst_core.stylize(photo, style_images=[photo], loss_net="squeezenet", size=32, steps=1, device="cpu")
    visitor = err.value.visitor_message
    assert visitor.startswith("The SqueezeNet network could not be loaded on this server: the download failed (")
    assert "<urlopen error" in visitor and visitor.endswith(").")
    assert "/" not in visitor and "Fix" not in visitor and "$NST" not in visitor
    assert "Fix:" in str(err.value) and str(offline_hub) in str(err.value)


def test_a_missing_arbitrary_network_has_a_visitor_sentence(tmp_path, monkeypatch):
    monkeypatch.setenv(WEIGHTS_ENV, str(tmp_path / "gone.safetensors"))
    with pytest.raises(WeightsError) as err:
        load_arbitrary()
    assert err.value.visitor_message == "The any-painting network is not installed on this server."
    assert "gone.safetensors" in str(err.value)  # the operator still learns which file
