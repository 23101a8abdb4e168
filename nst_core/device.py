"""Pick the compute device and how to compute on it, in one place: the device profile.

Every engine (Gatys, fast inference, training) asks `make_profile(device, precision, memory_format)` and gets the
same answer, so a choice made for the GPU is exercised on a CPU too: bf16 autocast and channels_last run on any
CPU (slowly where the CPU has no native bf16), which is how the tests cover the CUDA configuration's code paths.

`auto` means "what pays on this device", measured (bench/RESULTS.md):
- CUDA: bf16 autocast (fp32 + TF32 where the GPU has no bf16: fp16 only on request, it needs loss scaling),
  channels_last, TF32, cudnn.benchmark.
- A CPU with native bf16 (AMX or AVX-512 BF16): bf16 autocast and channels_last. VGG-19 forward + backward is
  2-5x faster there, and the Gatys objective stays within 3% of fp32's at equal steps.
- Any other CPU, and Apple MPS: float32, contiguous.
Gram matrices and loss sums are always float32: the engines cast activations up before squaring them.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch

from .errors import OptionsError
from .options import option

DEVICES = ("auto", "cpu", "cuda", "mps")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")
MEMORY_FORMATS = ("auto", "channels_last", "contiguous")
_PRECISION_ALIASES = {"float32": "fp32", "float": "fp32", "float16": "fp16", "half": "fp16", "bfloat16": "bf16"}
_DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}
_CPU_BF16_FLAGS = ("amx_bf16", "avx512_bf16")


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """`auto` prefers CUDA, then Apple MPS, then CPU; an explicit device that is absent is a user error."""
    if isinstance(device, torch.device):
        return device
    name = (device or "auto").lower()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    base = name.split(":")[0]
    if base not in DEVICES:
        raise OptionsError(f"Unknown device {device!r}: choose one of {', '.join(DEVICES)}.")
    if base == "cuda" and not torch.cuda.is_available():
        raise OptionsError("CUDA was requested but no CUDA GPU is available here; use --device cpu or auto.")
    if base == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise OptionsError("MPS was requested but is not available here; use --device cpu or auto.")
    return torch.device(name)


@functools.lru_cache(maxsize=1)
def cpu_native_bf16() -> bool:
    """True when this CPU computes bf16 natively (AMX or AVX-512 BF16), read from the kernel's CPU flags.

    Why not assume: on CPUs without it, bf16 autocast is emulated and slower than float32."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return any(f in flags for f in _CPU_BF16_FLAGS)
    except OSError:
        pass
    return False


@functools.lru_cache(maxsize=1)
def cpu_model() -> str:
    """The CPU's marketing name (for benchmark and training records), or the architecture when unknown."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or platform.machine() or "unknown CPU"


def device_label(device: torch.device) -> str:
    """'NVIDIA H200' or 'Intel(R) Xeon(R) ... (2 threads, bf16 native)': what a figure was measured on."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    if device.type == "cpu":
        bf16 = ", bf16 native" if cpu_native_bf16() else ""
        return f"{cpu_model()} ({torch.get_num_threads()} threads{bf16})"
    return device.type


def normalise_precision(precision: object) -> str:
    """The canonical name of a precision (aliases such as 'float32' accepted), or an OptionsError."""
    p = _PRECISION_ALIASES.get(str(precision).lower(), str(precision).lower()) if isinstance(precision, str) else None
    if p not in PRECISIONS:
        raise OptionsError(f"unknown precision {precision!r}: choose one of {', '.join(PRECISIONS)}")
    return p


def normalise_memory_format(memory_format: object) -> str:
    m = memory_format.lower().replace("-", "_") if isinstance(memory_format, str) else None
    if m not in MEMORY_FORMATS:
        raise OptionsError(f"unknown memory format {memory_format!r}: choose one of {', '.join(MEMORY_FORMATS)}")
    return m


@dataclass(frozen=True)
class DeviceProfile:
    """How to compute on one device: autocast dtype (None = float32), memory format, and the CUDA switches."""

    device: torch.device
    precision: str  # fp32 | bf16 | fp16 (never auto)
    channels_last: bool

    @property
    def dtype(self) -> torch.dtype | None:
        return _DTYPES[self.precision]

    @property
    def loss_scale(self) -> float:
        """Factor for the objective before backward: fp16 gradients of a mean over pixels underflow without it."""
        return 1024.0 if self.precision == "fp16" else 1.0

    @property
    def memory_format(self) -> torch.memory_format:
        return torch.channels_last if self.channels_last else torch.contiguous_format

    def autocast(self) -> contextlib.AbstractContextManager:
        """The one autocast context of the code base: a no-op for float32."""
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.dtype)

    def format(self, t: torch.Tensor) -> torch.Tensor:
        """`t` in this profile's memory format (4-D tensors only; others are returned as they are)."""
        return t.contiguous(memory_format=self.memory_format) if t.dim() == 4 else t

    def describe(self) -> str:
        return f"{self.precision}, {'channels_last' if self.channels_last else 'contiguous'}"


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """torch's intra-op threads set to `n` for the block (None or 0: unchanged), then put back: a training run
    called in-process (a notebook, the tests) must not leave the whole process on its thread count."""
    before = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def float32_region(device_type: str) -> contextlib.AbstractContextManager:
    """Autocast switched off inside a profile's autocast: where squares and sums must stay float32."""
    return torch.autocast(device_type=device_type, enabled=False)


def make_profile(
    device: str | torch.device | None = "auto", precision: str = "auto", memory_format: str = "auto"
) -> DeviceProfile:
    """Resolve the user's device, precision and memory format into a profile, and switch on TF32 and
    cudnn.benchmark on CUDA. fp16 on a CPU is refused: PyTorch's CPU kernels gain nothing from it."""
    dev = resolve_device(device)
    p, m = normalise_precision(precision), normalise_memory_format(memory_format)
    if p == "auto":
        if dev.type == "cuda":  # fp16 only on request: its small gradients need loss scaling to survive
            p = "bf16" if torch.cuda.is_bf16_supported() else "fp32"
        else:
            p = "bf16" if dev.type == "cpu" and cpu_native_bf16() else "fp32"
    if p == "fp16" and dev.type == "cpu":
        raise OptionsError("fp16 is for GPUs; on a CPU use precision bf16 or fp32")
    channels_last = (dev.type == "cuda" or p == "bf16") if m == "auto" else m == "channels_last"
    enable_fast_math(dev)
    return DeviceProfile(dev, p, channels_last)


def enable_fast_math(device: torch.device) -> None:
    """TF32 matmuls/convolutions and cudnn autotuning on CUDA: ~free speed, no visible change for style transfer."""
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True


# The profile's three options, declared once for every options type that has them (the engines, the trainings).
def is_device(device: object) -> bool:
    """auto, cpu, cuda, cuda:N, mps (any case) or a torch.device: what `resolve_device` accepts."""
    return isinstance(device, torch.device) or (isinstance(device, str) and device.lower().split(":")[0] in DEVICES)


def is_precision(precision: object) -> bool:
    """A precision or one of its aliases (float32, half, ...)."""
    name = precision.lower() if isinstance(precision, str) else None
    return _PRECISION_ALIASES.get(name, name) in PRECISIONS


def is_memory_format(memory_format: object) -> bool:
    return isinstance(memory_format, str) and memory_format.lower().replace("-", "_") in MEMORY_FORMATS


def device_option(note: str = "", **kw: Any) -> str:
    return option("auto", f"auto (default), cpu, cuda or mps{note}", check=is_device,
                  expect=f"one of {', '.join(DEVICES)} (or cuda:N)", **kw)  # fmt: skip


def precision_option(**kw: Any) -> str:
    help = "autocast dtype (default auto: bf16 on GPUs and on CPUs with native bf16, else fp32)"
    return option("auto", help, choices=PRECISIONS, check=is_precision, **kw)


def memory_format_option(**kw: Any) -> str:
    help = "tensor layout (default auto: channels_last with bf16 or on a GPU)"
    return option("auto", help, choices=MEMORY_FORMATS, check=is_memory_format, **kw)
