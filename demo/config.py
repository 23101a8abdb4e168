"""Every knob of the demo server in one place, read from the environment once at start-up.

Why env vars: a Hugging Face Space (or any container) is configured through its environment, not flags,
and the defaults must differ between a free 2-core CPU Space (small images, squeezenet preview) and a GPU box.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from nst_core.batching import GPU_BATCH, batch_limit
from nst_core.fast import FastOptions
from nst_core.gatys import GatysOptions
from nst_core.options import PerDevice, field_default, field_range
from nst_core.settings import read_settings, setting

BUNDLED_EXAMPLES = Path(__file__).resolve().parent / "assets"  # what we may ship: demo/assets/CREDITS.md

# The fast preview (SqueezeNet) on a CPU paints smaller than the core's default (384 px) on purpose: a visitor
# waits seconds, not minutes. Full quality and GPUs use the core's own per-device default.
CPU_PREVIEW_SIZE = 256


def _fast_max() -> float:
    return field_range(FastOptions, "size")[1]


def _gatys_size_max() -> float:
    return field_range(GatysOptions, "size")[1]


def _sizes() -> tuple[float, float]:
    """Any output size a setting names: at least 64 px, at most what the fast engine accepts (read when the
    settings are, so the demo follows the core's one definition)."""
    return (64, _fast_max())


def _gatys_steps() -> tuple[float, float]:
    return field_range(GatysOptions, "steps")


_CORE_STEPS = PerDevice(field_default(GatysOptions, "steps", "cpu"), field_default(GatysOptions, "steps", "cuda"))
_CORE_SIZE_GPU = field_default(GatysOptions, "size", "cuda")


@dataclass(frozen=True)
class DemoConfig:
    """Resolved settings; `device` is a concrete torch device name ("cpu", "cuda", "mps"). Every `setting` is
    one environment variable, declared here once (default, GPU default, range, help): the README's table and
    `load_config` come from these declarations."""

    device: str = "cpu"  # NST_DEMO_DEVICE (resolved by load_config)
    precision: str = setting("NST_DEMO_PRECISION", "auto", "autocast dtype: `auto`, `fp32`, `bf16`, `fp16`")
    memory_format: str = setting("NST_DEMO_MEMORY_FORMAT", "auto", "`auto`, `channels_last` or `contiguous`")
    # Output sizes are the long side in pixels.
    max_size: int = setting("NST_DEMO_MAX_SIZE", 1024, "largest output long side accepted", gpu=2048,
                            bounds=_sizes, at_most=(_fast_max,))  # fmt: skip
    fast_size: int = setting("NST_DEMO_FAST_SIZE", 512, "default output long side of a fast style", gpu=1024,
                             bounds=_sizes, at_most=("max_size",))  # fmt: skip
    gatys_size: int = setting(
        "NST_DEMO_GATYS_SIZE", CPU_PREVIEW_SIZE, "default long side of Best quality's fast preview (full quality "
        "uses the core's per-device size unless this is set)", gpu=_CORE_SIZE_GPU, bounds=_sizes,
        at_most=("max_size", _gatys_size_max),
    )  # fmt: skip
    min_size: int = 64
    gatys_steps: int = setting("NST_DEMO_GATYS_STEPS", _CORE_STEPS.cpu, "Gatys steps (default: the core's)",
                               gpu=_CORE_STEPS.gpu, bounds=_gatys_steps, at_most=("gatys_max_steps",))  # fmt: skip
    gatys_size_fixed: bool = False  # NST_DEMO_GATYS_SIZE set: full quality keeps it too (no larger default)
    gatys_steps_fixed: bool = False  # NST_DEMO_GATYS_STEPS set: use it instead of the core's per-network default
    gatys_max_steps: int = setting("NST_DEMO_GATYS_MAX_STEPS", 500, "most Gatys steps a visitor may ask for",
                                   gpu=2000, bounds=_gatys_steps)  # fmt: skip
    gatys_loss_net: str = setting("NST_DEMO_LOSS_NET", "squeezenet", "default Best quality level, when its network "
                                  "loads (else one that does)", gpu="vgg19")  # fmt: skip
    # Queue: one Gatys job at a time (it holds the loss network and its activations), or as many as one batch
    # takes when NST_GATYS_BATCH batches them (nst_core.batching), a few fast ones next to it (a TransformerNet
    # pass is small). Separate queues: a quick request never waits behind a Gatys run.
    fast_concurrency: int = setting(
        "NST_DEMO_FAST_CONCURRENCY", 2, "fast jobs running at once", gpu=4, bounds=(1, None)
    )
    gatys_concurrency: int = setting(
        "NST_DEMO_GATYS_CONCURRENCY", 1, "Gatys jobs running at once (separate queue; default: one batch's worth, "
        "`NST_GATYS_BATCH`)", gpu=GPU_BATCH, bounds=(1, None),
        doc_default=f"`NST_GATYS_BATCH` (1 on a CPU or MPS, {GPU_BATCH} on CUDA)",
    )  # fmt: skip
    max_queue: int = setting("NST_DEMO_MAX_QUEUE", 64, 'visitors waiting before "queue full"', bounds=(1, None))
    gatys_time_limit: int = setting("NST_DEMO_GATYS_TIME_LIMIT", 900, "seconds before a Gatys job is stopped (a "
                                    "forgotten tab cannot hold the slot)", bounds=(1, None))  # fmt: skip
    max_pixels: int = setting("NST_DEMO_MAX_PIXELS", 25_000_000, "largest decoded upload, in pixels",
                              bounds=(1, None))  # fmt: skip
    max_file_size: str = setting("NST_DEMO_MAX_FILE_SIZE", "25mb", "largest upload file")
    preview_every: int = setting("NST_DEMO_PREVIEW_EVERY", 10, "Gatys steps between streamed images",
                                 bounds=(1, None))  # fmt: skip
    file_ttl: int = setting("NST_DEMO_FILE_TTL", 3600, "seconds a result stays downloadable", bounds=(60, None))
    examples_dir: str | None = setting(
        "NST_DEMO_EXAMPLES", str(BUNDLED_EXAMPLES), "folder with `photos/` and `paintings/` for clickable examples "
        "(the built-in scene is always one)", doc_default="`demo/assets`",
    )  # fmt: skip
    # Off by default, so a start never waits on the network and an offline one offers what it has.
    fetch_loss_nets: bool = setting(
        "NST_DEMO_FETCH_LOSS_NETS", False,
        "1: download missing loss networks at start-up; 0: a start never downloads and offers what is on the server",
    )  # fmt: skip
    first_impression: bool = setting("NST_DEMO_FIRST_IMPRESSION", True, "0: the page opens with an empty result "
                                     "panel instead of a finished example")  # fmt: skip
    # Video tab: its own queue (a clip takes minutes on a CPU), limits checked from the header before any work.
    video_max_size: int = setting("NST_DEMO_VIDEO_MAX_SIZE", 512, "largest long side of a stylised clip",
                                  gpu=1024, bounds=_sizes)  # fmt: skip
    video_size: int = setting("NST_DEMO_VIDEO_SIZE", 384, "default long side of a stylised clip", gpu=720,
                              bounds=_sizes, at_most=("video_max_size",))  # fmt: skip
    video_max_seconds: float = setting("NST_DEMO_VIDEO_MAX_SECONDS", 30.0, "longest clip accepted, in seconds",
                                       gpu=120.0, bounds=(1, None))  # fmt: skip
    video_max_frames: int = setting("NST_DEMO_VIDEO_MAX_FRAMES", 900, "most frames accepted", gpu=3600,
                                    bounds=(1, None))  # fmt: skip
    video_max_pixels: int = setting("NST_DEMO_VIDEO_MAX_PIXELS", 1920 * 1080, "largest frame accepted (as "
                                    "uploaded), in pixels", gpu=3840 * 2160, bounds=(1, None))  # fmt: skip
    video_concurrency: int = setting("NST_DEMO_VIDEO_CONCURRENCY", 1, "video jobs at once (own queue)",
                                     bounds=(1, None))  # fmt: skip
    video_time_limit: int = setting("NST_DEMO_VIDEO_TIME_LIMIT", 900, "seconds before a video job is stopped",
                                    bounds=(1, None))  # fmt: skip
    # Webcam tab: frames at a size that keeps >= 10 frames/s on 2 CPU cores (bench/RESULTS.md), one visitor at a
    # time per slot, each for at most webcam_time_limit seconds so nobody holds the queue.
    webcam_size: int = setting("NST_DEMO_WEBCAM_SIZE", 256, "long side of a painted webcam frame", gpu=512,
                               bounds=_sizes)  # fmt: skip
    webcam_concurrency: int = setting("NST_DEMO_WEBCAM_CONCURRENCY", 1, "webcam streams at once (own queue)",
                                      gpu=4, bounds=(1, None))  # fmt: skip
    webcam_time_limit: int = setting("NST_DEMO_WEBCAM_TIME_LIMIT", 60, "seconds a visitor's webcam turn lasts "
                                     "before rejoining the queue", bounds=(1, None))  # fmt: skip
    webcam_fps: float = setting("NST_DEMO_WEBCAM_FPS", 10.0, "frames a second the page sends", bounds=(1, 30))

    @property
    def on_gpu(self) -> bool:
        return self.device.startswith(("cuda", "mps"))

    @property
    def webcam_interval(self) -> float:
        """Seconds between frames the page sends (gradio's stream_every)."""
        return 1.0 / self.webcam_fps


def load_config(env: Mapping[str, str] | None = None, device: str | None = None) -> DemoConfig:
    """Build the config from `env` (default: os.environ); `device` overrides NST_DEMO_DEVICE (for tests)."""
    env = os.environ if env is None else env
    if device is None:
        from nst_core.device import resolve_device

        device = str(resolve_device(env.get("NST_DEMO_DEVICE", "auto") or "auto"))
    from nst_core.device import make_profile

    gpu = device.startswith(("cuda", "mps"))
    values = read_settings(DemoConfig, env, gpu=gpu, defaults={"gatys_concurrency": batch_limit(device, env)})
    make_profile(device, values["precision"], values["memory_format"])  # a typo (or fp16 on a CPU) stops the start
    return DemoConfig(
        device=device,
        gatys_size_fixed=bool(env.get("NST_DEMO_GATYS_SIZE", "").strip()),
        gatys_steps_fixed=bool(env.get("NST_DEMO_GATYS_STEPS", "").strip()),
        **values,
    )
