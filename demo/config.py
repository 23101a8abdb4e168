"""Every knob of the demo server in one place, read from the environment once at start-up.

Why env vars: a Hugging Face Space (or any container) is configured through its environment, not flags,
and the defaults must differ between a free 2-core CPU Space (small images, squeezenet preview) and a GPU box.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from nst_core.batching import batch_limit
from nst_core.envvars import env_number
from nst_core.gatys import GatysOptions
from nst_core.options import field_default

BUNDLED_EXAMPLES = Path(__file__).resolve().parent / "assets"  # what we may ship: demo/assets/CREDITS.md

# The fast preview (SqueezeNet) on a CPU paints smaller than the core's default (384 px) on purpose: a visitor
# waits seconds, not minutes. Full quality and GPUs use the core's own per-device default.
CPU_PREVIEW_SIZE = 256


def _int(env: Mapping[str, str], name: str, default: int, *, minimum: int = 1) -> int:
    return int(env_number(name, default, lo=minimum, env=env))


@dataclass(frozen=True)
class DemoConfig:
    """Resolved settings; `device` is a concrete torch device name ("cpu", "cuda", "mps")."""

    device: str = "cpu"
    precision: str = "auto"  # NST_DEMO_PRECISION: auto | fp32 | bf16 | fp16 (nst_core.device)
    memory_format: str = "auto"  # NST_DEMO_MEMORY_FORMAT: auto | channels_last | contiguous
    # Output sizes are the long side in pixels.
    fast_size: int = 512
    gatys_size: int = CPU_PREVIEW_SIZE
    min_size: int = 64
    max_size: int = 1024
    gatys_steps: int = field_default(GatysOptions, "steps", "cpu")
    gatys_size_fixed: bool = False  # NST_DEMO_GATYS_SIZE set: full quality keeps it too (no larger default)
    gatys_steps_fixed: bool = False  # NST_DEMO_GATYS_STEPS set: use it instead of the core's per-network default
    gatys_max_steps: int = 500
    gatys_loss_net: str = "squeezenet"
    # Queue: one Gatys job at a time (it holds the loss network and its activations), or as many as one batch
    # takes when NST_GATYS_BATCH batches them (nst_core.batching), a few fast ones next to it (a TransformerNet
    # pass is small). Separate queues: a quick request never waits behind a Gatys run.
    fast_concurrency: int = 2
    gatys_concurrency: int = 1
    max_queue: int = 64
    gatys_time_limit: int = 900  # seconds; a forgotten tab cannot hold the Gatys slot forever
    max_pixels: int = 25_000_000  # decoded upload size; beyond it the user gets a "too large" message
    max_file_size: str = "25mb"
    preview_every: int = 10  # Gatys steps between streamed intermediate images
    file_ttl: int = 3600  # seconds a result PNG stays downloadable
    # NST_DEMO_EXAMPLES: a folder with photos/ and paintings/ (demo/examples.py); by default the bundled ones
    examples_dir: str | None = str(BUNDLED_EXAMPLES)
    # NST_DEMO_FETCH_LOSS_NETS=1: missing loss networks are downloaded at start-up (an online Space without weights
    # files); off by default, so a start never waits on the network and an offline one offers what it has.
    fetch_loss_nets: bool = False
    first_impression: bool = True  # NST_DEMO_FIRST_IMPRESSION=0: the page opens with an empty result panel
    # Video tab: its own queue (a clip takes minutes on a CPU), limits checked from the header before any work.
    video_size: int = 384  # default long side of a stylised clip
    video_max_size: int = 512
    video_max_seconds: float = 30.0
    video_max_frames: int = 900
    video_max_pixels: int = 1920 * 1080  # per frame, as uploaded
    video_concurrency: int = 1
    video_time_limit: int = 900  # seconds before a video job is stopped
    # Webcam tab: frames at a size that keeps >= 10 frames/s on 2 CPU cores (bench/RESULTS.md), one visitor at a
    # time per slot, each for at most webcam_time_limit seconds so nobody holds the queue.
    webcam_size: int = 256
    webcam_concurrency: int = 1
    webcam_time_limit: int = 60
    webcam_interval: float = 0.1  # seconds between frames the page sends (stream_every)

    @property
    def on_gpu(self) -> bool:
        return self.device.startswith(("cuda", "mps"))


def load_config(env: Mapping[str, str] | None = None, device: str | None = None) -> DemoConfig:
    """Build the config from `env` (default: os.environ); `device` overrides NST_DEMO_DEVICE (for tests)."""
    env = os.environ if env is None else env
    if device is None:
        from nst_core.device import resolve_device

        device = str(resolve_device(env.get("NST_DEMO_DEVICE", "auto") or "auto"))
    gpu = device.startswith(("cuda", "mps"))
    from nst_core.device import make_profile

    precision = env.get("NST_DEMO_PRECISION", "auto").strip() or "auto"
    memory_format = env.get("NST_DEMO_MEMORY_FORMAT", "auto").strip() or "auto"
    make_profile(device, precision, memory_format)  # a typo (or fp16 on a CPU) stops the start, in one line
    max_size = _int(env, "NST_DEMO_MAX_SIZE", 2048 if gpu else 1024, minimum=64)
    core_size = field_default(GatysOptions, "size", device)
    return DemoConfig(
        device=device,
        precision=precision,
        memory_format=memory_format,
        fast_size=min(max_size, _int(env, "NST_DEMO_FAST_SIZE", 1024 if gpu else 512, minimum=64)),
        gatys_size=min(max_size, _int(env, "NST_DEMO_GATYS_SIZE", core_size if gpu else CPU_PREVIEW_SIZE, minimum=64)),
        max_size=max_size,
        gatys_steps=_int(env, "NST_DEMO_GATYS_STEPS", field_default(GatysOptions, "steps", device), minimum=1),
        gatys_size_fixed=bool(env.get("NST_DEMO_GATYS_SIZE", "").strip()),
        gatys_steps_fixed=bool(env.get("NST_DEMO_GATYS_STEPS", "").strip()),
        gatys_max_steps=_int(env, "NST_DEMO_GATYS_MAX_STEPS", 2000 if gpu else 500),
        gatys_loss_net=env.get("NST_DEMO_LOSS_NET") or ("vgg19" if gpu else "squeezenet"),
        fast_concurrency=_int(env, "NST_DEMO_FAST_CONCURRENCY", 4 if gpu else 2),
        gatys_concurrency=_int(env, "NST_DEMO_GATYS_CONCURRENCY", batch_limit(device, env)),  # a batch's worth
        max_queue=_int(env, "NST_DEMO_MAX_QUEUE", 64),
        gatys_time_limit=_int(env, "NST_DEMO_GATYS_TIME_LIMIT", 900),
        max_pixels=_int(env, "NST_DEMO_MAX_PIXELS", 25_000_000),
        max_file_size=env.get("NST_DEMO_MAX_FILE_SIZE") or "25mb",
        preview_every=_int(env, "NST_DEMO_PREVIEW_EVERY", 10),
        file_ttl=_int(env, "NST_DEMO_FILE_TTL", 3600, minimum=60),
        examples_dir=env.get("NST_DEMO_EXAMPLES", "").strip() or str(BUNDLED_EXAMPLES),
        fetch_loss_nets=bool(env_number("NST_DEMO_FETCH_LOSS_NETS", 0, lo=0, hi=1, env=env)),
        first_impression=bool(env_number("NST_DEMO_FIRST_IMPRESSION", 1, lo=0, hi=1, env=env)),
        **_video_settings(env, gpu),
    )


def _video_settings(env: Mapping[str, str], gpu: bool) -> dict[str, int | float]:
    """The Video and Webcam tabs' knobs (NST_DEMO_VIDEO_*, NST_DEMO_WEBCAM_*)."""
    video_max_size = _int(env, "NST_DEMO_VIDEO_MAX_SIZE", 1024 if gpu else 512, minimum=64)
    return {
        "video_size": min(video_max_size, _int(env, "NST_DEMO_VIDEO_SIZE", 720 if gpu else 384, minimum=64)),
        "video_max_size": video_max_size,
        "video_max_seconds": env_number("NST_DEMO_VIDEO_MAX_SECONDS", 120 if gpu else 30, lo=1, whole=False, env=env),
        "video_max_frames": _int(env, "NST_DEMO_VIDEO_MAX_FRAMES", 3600 if gpu else 900),
        "video_max_pixels": _int(env, "NST_DEMO_VIDEO_MAX_PIXELS", 3840 * 2160 if gpu else 1920 * 1080),
        "video_concurrency": _int(env, "NST_DEMO_VIDEO_CONCURRENCY", 1),
        "video_time_limit": _int(env, "NST_DEMO_VIDEO_TIME_LIMIT", 900),
        "webcam_size": _int(env, "NST_DEMO_WEBCAM_SIZE", 512 if gpu else 256, minimum=64),
        "webcam_concurrency": _int(env, "NST_DEMO_WEBCAM_CONCURRENCY", 4 if gpu else 1),
        "webcam_time_limit": _int(env, "NST_DEMO_WEBCAM_TIME_LIMIT", 60),
        "webcam_interval": 1.0 / env_number("NST_DEMO_WEBCAM_FPS", 10, lo=1, hi=30, whole=False, env=env),
    }
