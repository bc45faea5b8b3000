"""Regularisers: L1 on chosen modules' activations (through forward hooks), L1/L2 on chosen parameters."""

from __future__ import annotations

import fnmatch

import torch
from torch import nn

from textcls.config import RegularizerConfig
from textcls.errors import ConfigError


def _match(names: list[str], patterns: list[str], what: str, key: str) -> list[str]:
    chosen = []
    for pattern in patterns:
        hits = [n for n in names if fnmatch.fnmatchcase(n, pattern)]
        if not hits:
            raise ConfigError(f"{key}: '{pattern}' matches no {what} (available: {', '.join(names)})")
        chosen += [h for h in hits if h not in chosen]
    return chosen


class ActivationL1:
    """Mean absolute output of the chosen modules, captured by forward hooks.

    Hooks are registered by `attach`, the captured tensors are dropped by `clear` after every step
    (so nothing accumulates), and the hooks are removed by `detach`. For modules that return tuples
    (an LSTM returns (output, (h, c))) the first element, the hidden states, is used; packed
    sequences contribute their real tokens only.
    """

    def __init__(self, cfg: RegularizerConfig, model: nn.Module):
        names = [n for n, _ in model.named_modules() if n]
        self.names = _match(names, cfg.targets, "module", "loss.regularizers.activation_l1")
        self.modules = dict(model.named_modules())
        self.captured: list[torch.Tensor] = []
        self.handles: list = []

    def _hook(self, module, inputs, output):
        if isinstance(output, tuple):
            output = output[0]
        if hasattr(output, "data") and not isinstance(output, torch.Tensor):  # PackedSequence
            output = output.data
        self.captured.append(output)

    def attach(self) -> None:
        self.handles = [self.modules[n].register_forward_hook(self._hook) for n in self.names]

    def value(self) -> torch.Tensor:
        if not self.captured:
            raise ConfigError(
                f"loss.regularizers.activation_l1: {', '.join(self.names)} produced no output "
                "in this step (is the module used by this model?)"
            )
        return sum(t.abs().mean() for t in self.captured)

    def clear(self) -> None:
        self.captured = []

    def detach(self) -> None:
        for handle in self.handles:
            handle.remove()
        self.handles, self.captured = [], []


class WeightNorm:
    """Sum of |w| (weight_l1) or of w^2 (weight_l2) over the chosen parameters only."""

    def __init__(self, cfg: RegularizerConfig, model: nn.Module):
        params = dict(model.named_parameters())
        self.names = _match(list(params), cfg.targets, "parameter", f"loss.regularizers.{cfg.name}")
        self.params = [params[n] for n in self.names]
        sparse = {id(m.weight) for m in model.modules() if isinstance(m, nn.Embedding) and m.sparse}
        if any(id(p) in sparse for p in self.params):
            raise ConfigError(
                f"loss.regularizers.{cfg.name}: a norm of a sparse embedding touches every row each "
                "step; set model.sparse: false to regularise it"
            )
        self.power = 1 if cfg.name == "weight_l1" else 2

    def value(self) -> torch.Tensor:
        return sum(p.abs().sum() if self.power == 1 else p.pow(2).sum() for p in self.params)

    def attach(self) -> None: ...
    def clear(self) -> None: ...
    def detach(self) -> None: ...


REGULARIZERS = {"activation_l1": ActivationL1, "weight_l1": WeightNorm, "weight_l2": WeightNorm}
