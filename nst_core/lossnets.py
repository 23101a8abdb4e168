"""Loss networks as a small registry (the timm idea): a spec says *what* a network is, loading says *where from*.

A `LossNetSpec` declares the layer names, default content/style layers and weights, the preprocessing convention and
where weights come from. `load_loss_net` resolves weights (explicit path, environment variable, torch hub cache,
torchvision download) and returns a frozen `FeatureExtractor` that takes RGB in 0..1 and normalises internally, so
callers never care whether the weights are torchvision's or the original Caffe ones.
Adding a network = one `register(LossNetSpec(...))` call.
"""

from __future__ import annotations

import functools
import json
import os
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn
from torchvision import models
from torchvision.models import vgg as vgg_models

from .errors import OptionsError, WeightsError
from .safeload import torch_load

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
CONVENTIONS = ("torchvision", "caffe")
LOSS_WEIGHTS = ("content_weight", "style_weight", "tv_weight")  # every LossNetSpec's default_weights names these


@dataclass(frozen=True)
class LossNetSpec:
    """Everything that is specific to one loss network; nothing here touches files."""

    name: str
    build_features: Callable[[], nn.Sequential]  # random-init `features` trunk, torchvision layout
    layers: dict[str, int]  # layer name -> index in `features` whose output it is
    content_layers: tuple[str, ...]
    style_layers: tuple[str, ...]
    style_layer_weights: tuple[float, ...]
    env_var: str
    hub_filename: str | None  # torchvision's checkpoint name in the torch hub cache
    torchvision_weights: Callable[[], object] | None  # lazily returns a torchvision WeightsEnum member
    description: str = ""
    label: str = ""  # the network's name as people write it ("VGG-19"), for messages
    # Defaults for the normalised objective (see losses.PerceptualLoss), chosen by measurement per network.
    default_weights: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """Every weight given here, so the objective, the trainer and the options read them without a fallback
        of their own (fallbacks had drifted: 10.0 for a style weight no network uses)."""
        missing = set(LOSS_WEIGHTS) - set(self.default_weights)
        if missing:
            raise ValueError(f"loss network {self.name!r} needs default_weights for {', '.join(sorted(missing))}")

    def index(self, layer: str) -> int:
        try:
            return self.layers[layer]
        except KeyError:
            known = ", ".join(self.layers)
            raise OptionsError(f"{self.name} has no layer {layer!r}. Known layers: {known}.") from None


_REGISTRY: dict[str, LossNetSpec] = {}


def register(spec: LossNetSpec) -> LossNetSpec:
    _REGISTRY[spec.name] = spec
    return spec


def list_loss_nets() -> list[str]:
    return sorted(_REGISTRY)


def get_spec(name: str) -> LossNetSpec:
    try:
        return _REGISTRY[name.lower()]
    except (KeyError, AttributeError):
        raise OptionsError(f"Unknown loss network {name!r}: choose one of {', '.join(list_loss_nets())}.") from None


def _vgg_layer_names(features: nn.Sequential) -> dict[str, int]:
    """conv1_1, relu1_1, ..., pool1, ... named the way the papers and jcjohnson/neural-style name them."""
    names: dict[str, int] = {}
    block, conv = 1, 0
    for i, module in enumerate(features):
        if isinstance(module, nn.Conv2d):
            conv += 1
            names[f"conv{block}_{conv}"] = i
        elif isinstance(module, nn.ReLU):
            names[f"relu{block}_{conv}"] = i
        elif isinstance(module, nn.MaxPool2d):
            names[f"pool{block}"] = i
            block, conv = block + 1, 0
    return names


def _squeezenet_layer_names() -> dict[str, int]:
    # torchvision squeezenet1_1.features: 0 conv1, 1 relu, 2 pool, 3 fire2, 4 fire3, 5 pool, 6 fire4, 7 fire5,
    # 8 pool, 9 fire6, 10 fire7, 11 fire8, 12 fire9
    return {
        "conv1": 0,
        "relu1": 1,
        "pool1": 2,
        "fire2": 3,
        "fire3": 4,
        "pool2": 5,
        "fire4": 6,
        "fire5": 7,
        "pool3": 8,
        "fire6": 9,
        "fire7": 10,
        "fire8": 11,
        "fire9": 12,
    }


def _vgg19() -> nn.Sequential:
    # Only the convolutional trunk: building the whole model would also initialise ~120M classifier weights.
    return vgg_models.make_layers(vgg_models.cfgs["E"])


def _vgg16() -> nn.Sequential:
    return vgg_models.make_layers(vgg_models.cfgs["D"])


def _squeezenet() -> nn.Sequential:
    return models.squeezenet1_1(weights=None).features


_PAPER_STYLE = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")

register(
    LossNetSpec(
        name="vgg19",
        build_features=_vgg19,
        layers=_vgg_layer_names(_vgg19()),
        content_layers=("relu4_2",),
        style_layers=_PAPER_STYLE,
        style_layer_weights=(0.2, 0.2, 0.2, 0.2, 0.2),
        env_var="NST_VGG19_WEIGHTS",
        hub_filename="vgg19-dcbb9e9d.pth",
        torchvision_weights=lambda: models.VGG19_Weights.IMAGENET1K_V1,
        description="VGG-19 (Gatys et al. 2015): the paper's network, best quality.",
        label="VGG-19",
        default_weights={"content_weight": 1.0, "style_weight": 30.0, "tv_weight": 1e2},
    )
)
register(
    LossNetSpec(
        name="vgg16",
        build_features=_vgg16,
        layers=_vgg_layer_names(_vgg16()),
        content_layers=("relu2_2",),
        style_layers=("relu1_2", "relu2_2", "relu3_3", "relu4_3"),
        style_layer_weights=(0.25, 0.25, 0.25, 0.25),
        env_var="NST_VGG16_WEIGHTS",
        hub_filename="vgg16-397923af.pth",
        torchvision_weights=lambda: models.VGG16_Weights.IMAGENET1K_V1,
        description="VGG-16 (Johnson et al. 2016's loss network).",
        label="VGG-16",
        default_weights={"content_weight": 1.0, "style_weight": 30.0, "tv_weight": 1e2},
    )
)
register(
    LossNetSpec(
        name="squeezenet",
        build_features=_squeezenet,
        layers=_squeezenet_layer_names(),
        # Chosen by measurement (bench/RESULTS.md): the CS231n layer choice scored best under the VGG-19 judge.
        content_layers=("fire2",),
        style_layers=("relu1", "fire3", "fire4", "fire5"),
        style_layer_weights=(0.25, 0.25, 0.25, 0.25),
        env_var="NST_SQUEEZENET_WEIGHTS",
        hub_filename="squeezenet1_1-b8a52dc0.pth",
        torchvision_weights=lambda: models.SqueezeNet1_1_Weights.IMAGENET1K_V1,
        description="SqueezeNet 1.1: ~50x cheaper than VGG-19, style transfer in seconds on a CPU.",
        label="SqueezeNet",
        default_weights={"content_weight": 1.0, "style_weight": 100.0, "tv_weight": 1e2},
    )
)


class FeatureExtractor(nn.Module):
    """Frozen trunk that maps RGB 0..1 images to named activations; preprocessing lives inside."""

    def __init__(self, spec: LossNetSpec, features: nn.Sequential, convention: str, source: str) -> None:
        super().__init__()
        if convention not in CONVENTIONS:
            raise OptionsError(f"Unknown input convention {convention!r}: use one of {CONVENTIONS}.")
        self.spec, self.convention, self.source = spec, convention, source
        self.features = features
        if convention == "caffe":
            self.register_buffer("mean", torch.tensor(CAFFE_MEAN_BGR).view(1, 3, 1, 1))
            self.register_buffer("std", torch.ones(1, 3, 1, 1))
        else:
            self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
            self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))
        self.requires_grad_(False)
        self.eval()

    @property
    def layer_names(self) -> list[str]:
        return [n for n, i in self.spec.layers.items() if i < len(self.features)]

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        if self.convention == "caffe":
            x = x[:, [2, 1, 0]] * 255.0
        return (x - self.mean) / self.std

    def forward(self, x: torch.Tensor, layers: Sequence[str]) -> dict[str, torch.Tensor]:
        wanted: dict[int, list[str]] = {}
        for name in layers:
            idx = self.spec.index(name)
            if idx >= len(self.features):
                raise OptionsError(
                    f"Layer {name!r} lies beyond this truncated {self.spec.name}; load it with layers=[..., {name!r}]."
                )
            wanted.setdefault(idx, []).append(name)
        out: dict[str, torch.Tensor] = {}
        h = self.normalize(x)
        last = max(wanted) if wanted else -1
        for i, module in enumerate(self.features):
            if i > last:
                break
            h = module(h)
            for name in wanted.get(i, ()):
                out[name] = h
        return out


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    obj = torch_load(path, "loss-network weights file")
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict):
        raise WeightsError(f"{path} does not hold a state dict (found {type(obj).__name__}).")
    return obj


def _features_state(state: dict[str, torch.Tensor], depth: int) -> dict[str, torch.Tensor]:
    """Accept full torchvision dicts (`features.N.*` + classifier) or features-only (`N.*`); keep float32."""
    out = {}
    for key, value in state.items():
        k = key[len("features.") :] if key.startswith("features.") else key
        head = k.split(".", 1)[0]
        if not head.isdigit() or not torch.is_tensor(value):
            continue
        if int(head) < depth:
            out[k] = value.float()
    return out


def _sidecar_convention(path: Path) -> str | None:
    """Read the preprocessing convention from `<weights>.json` next to the file, when there is one."""
    for cand in (path.with_suffix(".json"), Path(str(path) + ".json")):
        if cand.is_file():
            try:
                meta = json.loads(cand.read_text())
            except (OSError, ValueError):
                return None
            conv = meta.get("convention")
            if conv in CONVENTIONS:
                return conv
            inp = meta.get("input", {}) if isinstance(meta.get("input"), dict) else {}
            order = str(inp.get("channel_order", "")).upper()
            vrange = str(inp.get("value_range", ""))
            if order == "BGR" or "255" in vrange:
                return "caffe"
            if order == "RGB":
                return "torchvision"
    return None


def _local_files(spec: LossNetSpec, weights: str | os.PathLike | None, env: str | None) -> list[tuple[str, Path]]:
    """The files on this machine that may hold the weights, in the order they are tried: (label, path)."""
    if weights is not None:  # an explicit choice that fails must not silently fall back to something else
        return [("explicit path", Path(weights).expanduser())]
    if env:  # the user named a file: a typo must be an error, not a silent fall-through to a download
        return [(f"${spec.env_var}", Path(env).expanduser())]
    if spec.hub_filename:
        return [("torch hub cache", Path(torch.hub.get_dir()) / "checkpoints" / spec.hub_filename)]
    return []


def _candidates(
    spec: LossNetSpec, weights: str | os.PathLike | None, env: str | None, download: bool = True
) -> list[tuple[str, Callable]]:
    """The weight sources in the order they are tried: (description, loader returning (state, path|None)); the
    torchvision download comes last, only when `download` and no file was named."""
    tried: list[tuple[str, Callable]] = []

    def from_path(p: Path, label: str):
        def load():
            if not p.is_file():
                raise FileNotFoundError("no such file")
            return _read_state_dict(p), p

        return (f"{label}: {p}", load)

    tried.extend(from_path(path, label) for label, path in _local_files(spec, weights, env))
    if weights is None and not env and download and spec.torchvision_weights is not None:

        def download():
            w = spec.torchvision_weights()
            return w.get_state_dict(progress=True, check_hash=True), None

        tried.append((f"torchvision download ({spec.torchvision_weights()})", download))
    return tried


_lock = threading.Lock()


@functools.lru_cache(maxsize=8)
def _load_cached(
    name: str,
    weights: str | None,
    device: str,
    pooling: str,
    depth: int,
    convention: str | None,
    pretrained: bool,
    seed: int,
    env: str | None,
) -> FeatureExtractor:
    return _build(name, weights, device, pooling, depth, convention, pretrained, seed, env)


def _build(
    name: str,
    weights: str | None,
    device: str,
    pooling: str,
    depth: int,
    convention: str | None,
    pretrained: bool,
    seed: int,
    env: str | None,
    download: bool = True,
) -> FeatureExtractor:
    spec = get_spec(name)
    features = spec.build_features()[:depth]
    for i, m in enumerate(features):
        if isinstance(m, nn.ReLU):
            features[i] = nn.ReLU(inplace=False)  # an in-place ReLU would overwrite conv outputs we hand out
        elif pooling == "avg" and isinstance(m, nn.MaxPool2d):
            features[i] = nn.AvgPool2d(m.kernel_size, m.stride, m.padding, ceil_mode=m.ceil_mode)
    if not pretrained:
        gen = torch.Generator().manual_seed(seed)
        for m in features.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu", generator=gen)
                nn.init.zeros_(m.bias)
        net = FeatureExtractor(spec, features, convention or "torchvision", f"random init (seed {seed})")
        return net.to(device)
    errors, download_failure = [], ""
    for label, load in _candidates(spec, weights, env, download):
        try:
            state, path = load()
        except Exception as e:  # every failure is reported to the user below
            reason = str(e).splitlines()[0] if str(e) else type(e).__name__
            if weights is not None or env:  # the one file the user named: say what is wrong with it, in one line
                name = Path(weights or env).name
                text = f"${spec.env_var} names {name}: {reason}" if weights is None else (
                    reason if name in reason else f"weights file {name}: {reason}")  # fmt: skip
                raise WeightsError(text, visitor=_visitor_reason(spec)) from None
            errors.append(f"  - {label}: {reason}")
            download_failure = reason if label.startswith("torchvision download") else download_failure
            continue
        sd = _features_state(state, depth)
        missing = [k for k in features.state_dict() if k not in sd]
        if missing:
            if weights is not None or env:
                raise WeightsError(
                    f"{Path(weights or env).name} does not hold {spec.name} weights (missing "
                    f"{', '.join(missing[:3])}...)",
                    visitor=_visitor_reason(spec),
                )
            errors.append(f"  - {label}: not {spec.name} weights (missing {', '.join(missing[:3])}...)")
            continue
        features.load_state_dict(sd, strict=True)
        conv = convention or (_sidecar_convention(path) if path else None) or "torchvision"
        return FeatureExtractor(spec, features, conv, label).to(device)
    msg = (
        f"Could not load {spec.name} weights. Tried, in order:\n"
        + "\n".join(errors)
        + f"\nFix: pass a weights file (--loss-net-weights PATH), set ${spec.env_var}, "
        f"or go online once so torchvision can download them into {torch.hub.get_dir()}."
    )
    raise WeightsError(msg, visitor=_visitor_reason(spec, download_failure))


def _visitor_reason(spec: LossNetSpec, download_failure: str = "") -> str:
    """The failure in plain words for a server's visitors: no paths and no settings to change (those are the
    operator's, in the message); a download's own failure is kept when it names no file (`<urlopen error ...>`)."""
    text = f"The {spec.label or spec.name} network could not be loaded on this server"
    if download_failure and "/" not in download_failure and "\\" not in download_failure:
        return f"{text}: the download failed ({download_failure})."
    return f"{text}."


def load_loss_net(
    name: str = "vgg19",
    weights: str | os.PathLike | None = None,
    *,
    device: str | torch.device = "cpu",
    pooling: str = "max",
    layers: Iterable[str] | None = None,
    convention: str | None = None,
    pretrained: bool = True,
    seed: int = 0,
) -> FeatureExtractor:
    """Load (and cache) a frozen loss network truncated after the deepest of `layers` (all layers if None)."""
    spec = get_spec(name)
    if pooling not in ("max", "avg"):
        raise OptionsError(f"pooling must be 'max' or 'avg', not {pooling!r}.")
    if convention is not None and convention not in CONVENTIONS:
        raise OptionsError(f"convention must be one of {CONVENTIONS}, not {convention!r}.")
    names = list(layers) if layers is not None else list(spec.layers)
    depth = max(spec.index(n) for n in names) + 1
    key_weights = str(Path(weights).expanduser().resolve()) if weights is not None else None
    with _lock:
        return _load_cached(
            spec.name,
            key_weights,
            str(torch.device(device)),
            pooling,
            depth,
            convention,
            pretrained,
            seed,
            os.environ.get(spec.env_var) or None,
        )


@dataclass(frozen=True)
class LossNetStatus:
    """Whether a loss network loads here, asked once at a server's start-up: `reason` says why not in plain words
    (for visitors), `detail` is the operator's (what was tried, where, how to fix it; for the log)."""

    name: str
    available: bool
    reason: str = ""
    detail: str = ""
    source: str = ""  # where the weights were found, when available


def loss_net_status(name: str, weights: str | os.PathLike | None = None, *, download: bool = False) -> LossNetStatus:
    """Can `name` be loaded from what is on this machine (`weights`, its environment variable, the torch hub cache,
    in `load_loss_net`'s order)? No download unless `download` (into the hub cache): a server asks at start-up,
    when it may be offline. The network is loaded and checked, then dropped (not kept in the cache a run uses)."""
    spec = get_spec(name)
    env = os.environ.get(spec.env_var) or None
    named = str(Path(weights).expanduser().resolve()) if weights is not None else None
    layers = (*spec.content_layers, *spec.style_layers)
    depth = max(spec.index(n) for n in layers) + 1
    try:
        net = _build(spec.name, named, "cpu", "max", depth, None, True, 0, env, download=download)
    except WeightsError as exc:
        found = any(path.is_file() for _, path in _local_files(spec, weights, env))
        label = spec.label or spec.name
        reason = (
            f"{label}'s weights on this server cannot be read."
            if found
            else f"{label} is not installed on this server."
        )
        return LossNetStatus(spec.name, False, reason, str(exc))
    return LossNetStatus(spec.name, True, source=net.source)
