"""Reading `.pth` files safely, with errors a person can act on.

Only `torch.load(..., weights_only=True)` is ever used: a pickle may run code, so whole pickled models and
anything else beyond tensors and plain containers are refused. PyTorch's own message for that is many lines with
terminal colour codes and advice to retry with `weights_only=False`, which is exactly what one must not do with
an untrusted file; every failure is reworded here as one plain line.
"""

from __future__ import annotations

import os
import pickle
import warnings
from pathlib import Path
from typing import Any

import torch

from .errors import WeightsError


def torch_load(path: str | os.PathLike, what: str = "weights file") -> Any:
    """The contents of a `.pth`/`.pt` file, read with weights_only=True, or WeightsError in one line."""
    path = Path(path)
    name = path.name
    if not path.exists():
        raise WeightsError(f"{what} not found: {name}")
    if not path.is_file():
        raise WeightsError(f"{what} {name} is not a file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "pickle protocol 4" and similar chatter
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if "global" not in str(exc).lower():  # "invalid load key", "unsupported operand": not a torch pickle
            raise WeightsError(f"{what} {name} is not a PyTorch weights file") from None
        raise WeightsError(
            f"{what} {name} holds Python objects besides tensors (a whole pickled model, or code); for safety only "
            "plain weight files are read: save the model's state_dict() instead"
        ) from None
    except PermissionError:
        raise WeightsError(f"cannot read {what} {name}: permission denied") from None
    except (RuntimeError, EOFError, OSError) as exc:
        if "zip archive" in str(exc) or isinstance(exc, EOFError):
            raise WeightsError(f"{what} {name} is truncated or corrupt") from None
        raise WeightsError(f"{what} {name} is not a readable PyTorch file") from None
    except Exception:  # KeyError, UnicodeDecodeError, ValueError...: text or some other format
        raise WeightsError(f"{what} {name} is not a PyTorch weights file") from None
