"""Loss networks: layer names, every weight source in order, conventions, truncation, clear errors."""

import json
from pathlib import Path

import pytest
import torch
from torchvision import models

from nst_core import WeightsError
from nst_core.errors import OptionsError
from nst_core.lossnets import _load_cached, get_spec, list_loss_nets, load_loss_net


def test_registry_lists_networks():
    assert {"vgg19", "vgg16", "squeezenet"} <= set(list_loss_nets())
    with pytest.raises(OptionsError, match="Unknown loss network"):
        get_spec("alexnet")


def test_vgg19_layer_names_match_paper():
    spec = get_spec("vgg19")
    assert spec.layers["conv1_1"] == 0 and spec.layers["relu1_1"] == 1
    assert spec.layers["relu4_2"] == 22 and spec.layers["relu5_1"] == 29 and spec.layers["relu5_4"] == 35
    assert spec.layers["pool1"] == 4
    assert spec.content_layers == ("relu4_2",)
    assert spec.style_layers == ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
    assert get_spec("vgg16").layers["relu5_3"] == 29


def test_squeezenet_layer_names():
    spec = get_spec("squeezenet")
    feats = models.squeezenet1_1().features
    assert type(feats[spec.layers["fire2"]]).__name__ == "Fire"
    assert isinstance(feats[spec.layers["relu1"]], torch.nn.ReLU)


def test_truncated_after_deepest_layer_and_frozen():
    net = load_loss_net("vgg19", pretrained=False, layers=["relu2_1"])
    assert len(net.features) == 7
    assert not any(p.requires_grad for p in net.parameters())
    out = net(torch.rand(1, 3, 32, 32), ["relu1_1", "relu2_1"])
    assert out["relu1_1"].shape == (1, 64, 32, 32) and out["relu2_1"].shape == (1, 128, 16, 16)
    with pytest.raises(OptionsError, match="beyond"):
        net(torch.rand(1, 3, 32, 32), ["relu3_1"])


def test_conv_outputs_are_not_overwritten_by_relu():
    net = load_loss_net("vgg19", pretrained=False, layers=["relu1_1"])
    out = net(torch.rand(1, 3, 16, 16), ["conv1_1", "relu1_1"])
    assert (out["conv1_1"] < 0).any()
    assert torch.equal(out["relu1_1"], out["conv1_1"].clamp(min=0))


def test_avg_pooling_option():
    net = load_loss_net("vgg19", pretrained=False, layers=["relu2_1"], pooling="avg")
    assert isinstance(net.features[4], torch.nn.AvgPool2d)


def _save_random_vgg(path: Path, full: bool, fp16: bool = False) -> dict:
    torch.manual_seed(0)
    m = models.vgg19()
    sd = m.state_dict() if full else {k: v for k, v in m.state_dict().items() if k.startswith("features.")}
    if fp16:
        sd = {k: v.half() for k, v in sd.items()}
    torch.save(sd, path)
    return sd


@pytest.mark.parametrize("full,fp16", [(True, False), (False, True)])
def test_loads_full_or_features_only_state_dicts(tmp_path, full, fp16):
    sd = _save_random_vgg(tmp_path / "w.pth", full=full, fp16=fp16)
    net = load_loss_net("vgg19", tmp_path / "w.pth", layers=["relu1_1"])
    assert torch.equal(net.features[0].weight, sd["features.0.weight"].float())
    assert net.features[0].weight.dtype == torch.float32
    assert net.convention == "torchvision"


def test_weight_sources_tried_in_order(tmp_path, monkeypatch):
    env_file, hub_file = tmp_path / "env.pth", tmp_path / "hub" / "checkpoints" / "vgg19-dcbb9e9d.pth"
    hub_file.parent.mkdir(parents=True)
    _save_random_vgg(env_file, full=False)
    _save_random_vgg(hub_file, full=True)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    monkeypatch.setenv("NST_VGG19_WEIGHTS", str(env_file))
    assert load_loss_net("vgg19", layers=["relu1_1"]).source.startswith("$NST_VGG19_WEIGHTS")
    monkeypatch.delenv("NST_VGG19_WEIGHTS")
    assert load_loss_net("vgg19", layers=["relu1_1"]).source.startswith("torch hub cache")


def test_clear_error_lists_everything_tried(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "empty_hub"))
    _load_cached.cache_clear()  # an earlier test may have loaded from a hub folder of its own

    def offline(*a, **k):
        raise OSError("network is unreachable")

    import torchvision.models._api as tv_api  # where WeightsEnum.get_state_dict downloads from

    monkeypatch.setattr(tv_api, "load_state_dict_from_url", offline)
    with pytest.raises(WeightsError) as err:
        load_loss_net("vgg19", layers=["relu1_1"])
    msg = str(err.value)
    for piece in ("torch hub cache", "torchvision download", "network is unreachable", "Fix:", "$NST_VGG19_WEIGHTS"):
        assert piece in msg


def test_a_mistyped_environment_variable_is_an_error_not_a_download(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    monkeypatch.setenv("NST_VGG19_WEIGHTS", str(tmp_path / "vgg19_typo.pth"))
    import torchvision.models._api as tv_api

    monkeypatch.setattr(tv_api, "load_state_dict_from_url", lambda *a, **k: pytest.fail("must not download"))
    with pytest.raises(WeightsError) as err:
        load_loss_net("vgg19", layers=["relu1_1"])
    assert str(err.value) == "$NST_VGG19_WEIGHTS names vgg19_typo.pth: no such file"


def test_explicit_path_does_not_fall_back(tmp_path):
    with pytest.raises(WeightsError, match=r"nope\.pth"):
        load_loss_net("vgg19", tmp_path / "nope.pth", layers=["relu1_1"])


def test_rejects_pickled_objects_and_foreign_weights(tmp_path):
    torch.save({"model": torch.nn.Linear(2, 2)}, tmp_path / "pickled.pth")  # needs full unpickling
    with pytest.raises(WeightsError):
        load_loss_net("vgg19", tmp_path / "pickled.pth", layers=["relu1_1"])
    torch.save({"fc.weight": torch.zeros(2, 2)}, tmp_path / "foreign.pth")
    with pytest.raises(WeightsError, match="does not hold vgg19 weights"):
        load_loss_net("vgg19", tmp_path / "foreign.pth", layers=["relu1_1"])


def test_caffe_convention_from_sidecar(tmp_path):
    _save_random_vgg(tmp_path / "caffe.pth", full=False)
    (tmp_path / "caffe.json").write_text(json.dumps({"input": {"channel_order": "BGR", "value_range": "0..255"}}))
    net = load_loss_net("vgg19", tmp_path / "caffe.pth", layers=["relu1_1"])
    assert net.convention == "caffe"
    x = torch.rand(1, 3, 4, 4)
    expected = x[:, [2, 1, 0]] * 255 - torch.tensor([103.939, 116.779, 123.68]).view(1, 3, 1, 1)
    assert torch.allclose(net.normalize(x), expected, atol=1e-4)
    tv = load_loss_net("vgg19", tmp_path / "caffe.pth", layers=["relu1_1"], convention="torchvision")
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    assert torch.allclose(tv.normalize(x), (x - mean) / std, atol=1e-6)


def test_real_vgg19_recognises_its_sidecar(vgg19_path):
    net = load_loss_net("vgg19", vgg19_path, layers=["relu5_1"])
    assert net.convention == "caffe"
    feats = net(torch.rand(1, 3, 64, 64), ["relu5_1"])["relu5_1"]
    assert feats.shape == (1, 512, 4, 4) and torch.isfinite(feats).all()


def test_real_squeezenet_loads_with_torchvision_convention(squeezenet_path):
    net = load_loss_net("squeezenet", squeezenet_path)
    assert net.convention == "torchvision"
    out = net(torch.rand(1, 3, 64, 64), ["fire9"])["fire9"]
    assert out.shape[1] == 512


_BUILDERS = {"vgg19": models.vgg19, "vgg16": models.vgg16, "squeezenet": models.squeezenet1_1}


@pytest.mark.parametrize("name", ["vgg19", "vgg16", "squeezenet"])
def test_every_network_loads_from_each_source_in_order(tmp_path, monkeypatch, name):
    spec = get_spec(name)
    torch.manual_seed(1)
    sd = _BUILDERS[name]().state_dict()
    explicit, env_file = tmp_path / "explicit.pth", tmp_path / "env.pth"
    hub_file = tmp_path / "hub" / "checkpoints" / spec.hub_filename
    hub_file.parent.mkdir(parents=True)
    for p in (explicit, env_file, hub_file):
        torch.save(sd, p)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    monkeypatch.setenv(spec.env_var, str(env_file))
    layers = spec.content_layers + spec.style_layers
    assert load_loss_net(name, explicit, layers=layers).source.startswith("explicit path")
    assert load_loss_net(name, layers=layers).source.startswith(f"${spec.env_var}")
    monkeypatch.delenv(spec.env_var)
    net = load_loss_net(name, layers=layers)
    assert net.source.startswith("torch hub cache") and net.convention == "torchvision"
    feats = net(torch.rand(1, 3, 64, 64), layers)
    assert set(feats) == set(layers) and all(torch.isfinite(f).all() for f in feats.values())
    hub_file.unlink()
    _load_cached.cache_clear()  # loaded networks are cached per (name, path, env); forget the hub copy

    import torchvision.models._api as tv_api

    monkeypatch.setattr(tv_api, "load_state_dict_from_url", lambda *a, **k: (_ for _ in ()).throw(OSError("offline")))
    with pytest.raises(WeightsError, match=spec.env_var):
        load_loss_net(name, layers=layers)
