"""Where a computation runs: the config's `auto`, `cpu` or `cuda` as a torch device."""

from __future__ import annotations

import torch

from textcls.errors import ConfigError


def resolve_device(name: str, option: str = "train.device"):
    """`auto` -> cuda when there is a CUDA device, else cpu; `cuda` without one is an error naming `option`."""
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"{option} is 'cuda' but no CUDA device is available (use 'auto' or 'cpu')")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)
