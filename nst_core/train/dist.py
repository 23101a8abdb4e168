"""Several processes (torchrun) or one: DDP set-up, the all-ranks agreements, and clean stops on signals.

Only rank 0 writes (checkpoints, previews, the registry entry) and prints. Every rank must leave the loop at the
same step, or the others would wait forever in the next all-reduce: stopping is agreed on by all of them.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from ..device import device_label, resolve_device


@dataclass(frozen=True)
class Ranks:
    """This process's place: its rank among `world_size` processes and its device."""

    rank: int
    world_size: int
    device: torch.device

    @property
    def master(self) -> bool:
        return self.rank == 0

    @property
    def slice(self) -> tuple[int, int]:
        """(rank, world_size): which slice of each global batch is this process's."""
        return self.rank, self.world_size

    def label(self) -> str:
        """'NVIDIA H100 x 8': the device as logs and the style's JSON name it."""
        name = device_label(self.device)
        return f"{name} x {self.world_size}" if self.world_size > 1 else name


@contextmanager
def processes(device: str) -> Iterator[Ranks]:
    """Joins the process group when torchrun started several processes (one GPU each), leaves it after."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    ddp = world_size > 1
    rank = int(os.environ.get("RANK", "0")) if ddp else 0
    local_rank = int(os.environ.get("LOCAL_RANK", "0")) if ddp else 0
    dev = resolve_device(device)
    if ddp and dev.type == "cuda":
        dev = torch.device("cuda", local_rank)
        torch.cuda.set_device(dev)
    if ddp:
        dist.init_process_group(backend="nccl" if dev.type == "cuda" else "gloo")
    try:
        yield Ranks(rank, world_size, dev)
    finally:
        if ddp and dist.is_initialized():
            dist.destroy_process_group()


def is_rank0() -> bool:
    """Before the process group exists: under torchrun every rank hits the same mistake, and says it once."""
    return os.environ.get("RANK", "0") == "0"


def wrap(model: nn.Module, ranks: Ranks) -> nn.Module:
    """DDP when there are several processes: it averages the gradients of all the global batch's slices."""
    if ranks.world_size == 1:
        return model
    cuda = ranks.device.type == "cuda"
    return nn.parallel.DistributedDataParallel(model, device_ids=[ranks.device.index] if cuda else None)


def mean_over_ranks(terms: dict[str, torch.Tensor], ranks: Ranks) -> dict[str, float]:
    """The logged losses of the whole global batch (each rank sees only its slice of it)."""
    t = torch.stack([v.detach().float() for v in terms.values()])
    if ranks.world_size > 1:
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
        t /= ranks.world_size
    return dict(zip(terms, t.tolist(), strict=True))


def all_ranks_agree(flags: list[bool], ranks: Ranks) -> list[bool]:
    """Each flag true if it is on any rank: all ranks must stop at the same step."""
    if ranks.world_size == 1:
        return flags
    t = torch.tensor([float(f) for f in flags], device=ranks.device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return [bool(v) for v in t.tolist()]


class StopRequest:
    """SIGINT/SIGTERM/SIGHUP (a closed terminal or ssh session) ask for a clean stop after the current step, with
    a checkpoint; a 2nd Ctrl-C aborts."""

    def __init__(self) -> None:
        self.requested = False
        self._old: dict[int, Any] = {}

    def __enter__(self) -> StopRequest:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM, *((signal.SIGHUP,) if hasattr(signal, "SIGHUP") else ())):
                if signal.getsignal(sig) is signal.SIG_IGN:  # started under nohup: logging out must not stop it
                    continue
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc: object) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)
