"""The training loop. It knows nothing about which model it trains, what the losses are, or how
progress is shown: it receives a model, an objective, encoded data, and a reporter, and calls back
after every epoch so the caller can evaluate, log and checkpoint."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable, Protocol

import torch

from textcls.batching import IGNORE, Encoded, batch_order
from textcls.config import OptimConfig, TrainConfig
from textcls.losses import Objective
from textcls.metrics import flatten, is_better
from textcls.models import TextModel


REPORT_EVERY = 25  # steps between progress reports (each one reads the running loss off the device)


class Reporter(Protocol):
    def start_epoch(self, epoch: int, epochs: int, steps: int) -> None: ...
    def step(self, steps: int, loss: float, tokens: int) -> None: ...  # `steps` more done; mean loss and tokens so far
    def end_epoch(self, record: dict) -> None: ...


class NullReporter:
    def start_epoch(self, epoch, epochs, steps): ...
    def step(self, steps, loss, tokens): ...
    def end_epoch(self, record): ...


def _sparse_params(model: torch.nn.Module) -> list[torch.nn.Parameter]:
    return [m.weight for m in model.modules() if isinstance(m, torch.nn.Embedding) and m.sparse]


class Optimizer:
    """The configured optimiser.

    adamw, adam, sgd (momentum 0.9): for the dense parameters, with SparseAdam for sparse
    embeddings (their gradients cover only the rows a batch used, so a step costs nothing for the
    other rows). sgd_linear: fastText's recipe, plain SGD on every parameter (sparse rows included:
    the cheapest update there is) with the learning rate decayed linearly to 0; `lr` is per
    example, as fastText's -lr, so the step on a batch's mean loss is lr * batch_size.
    """

    def __init__(self, cfg: OptimConfig, model: torch.nn.Module, batch_size: int = 1):
        sparse = _sparse_params(model)
        dense = [p for p in model.parameters() if p.requires_grad and all(p is not s for s in sparse)]
        self.dense = dense
        if cfg.name == "sgd_linear":
            groups = [{"params": dense, "weight_decay": cfg.weight_decay}] + ([{"params": sparse, "weight_decay": 0.0}] if sparse else [])
            self.optimizers = [torch.optim.SGD(groups, lr=cfg.lr * batch_size)]
        else:
            if cfg.name == "sgd":
                main = torch.optim.SGD(dense, lr=cfg.lr, momentum=0.9, weight_decay=cfg.weight_decay)
            else:
                main = (torch.optim.AdamW if cfg.name == "adamw" else torch.optim.Adam)(dense, lr=cfg.lr, weight_decay=cfg.weight_decay)
            self.optimizers = [main] + ([torch.optim.SparseAdam(sparse, lr=cfg.lr)] if sparse else [])
        self.base_lrs = [g["lr"] for o in self.optimizers for g in o.param_groups]

    @property
    def param_groups(self) -> list[dict]:
        return [g for o in self.optimizers for g in o.param_groups]

    def set_lr_factor(self, factor: float) -> None:
        for group, base in zip(self.param_groups, self.base_lrs):
            group["lr"] = base * factor

    def zero_grad(self) -> None:
        for o in self.optimizers:
            o.zero_grad(set_to_none=True)

    def step(self) -> None:
        for o in self.optimizers:
            o.step()

    def state_dict(self) -> dict:
        return {"optimizers": [o.state_dict() for o in self.optimizers]}

    def load_state_dict(self, state: dict) -> None:
        for o, s in zip(self.optimizers, state["optimizers"]):
            o.load_state_dict(s)


def lr_factor(cfg: OptimConfig, step: int, total_steps: int) -> float:
    """Learning-rate multiplier at `step`: linear warm-up, then constant, linear or cosine decay."""
    if step < cfg.warmup_steps:
        return (step + 1) / cfg.warmup_steps
    progress = min(1.0, (step - cfg.warmup_steps) / max(1, total_steps - cfg.warmup_steps))
    if cfg.schedule == "linear" or cfg.name == "sgd_linear":
        return 1 - progress
    if cfg.schedule == "cosine":
        return 0.5 * (1 + math.cos(math.pi * progress))
    return 1.0


@dataclass
class FitResult:
    best_epoch: int
    best_score: float | None
    history: list[dict]


class Trainer:
    def __init__(self, model: TextModel, objective: Objective, optim: OptimConfig, cfg: TrainConfig,
                 device: torch.device, task: str, reporter: Reporter | None = None):
        self.model, self.objective, self.cfg, self.device, self.task = model, objective, cfg, device, task
        self.optim_cfg = optim
        self.optimizer = Optimizer(optim, model, cfg.batch_size)
        self.step_count, self.total_steps = 0, 1
        self.reporter = reporter or NullReporter()
        self.generator = torch.Generator().manual_seed(cfg.seed)  # batch order; the model's RNG is torch's global one

    def training_state(self, epoch: int) -> dict:
        """Everything besides the weights that an exact resume needs (tensors and plain data only)."""
        return {
            "epoch": epoch,
            "optimizer": self.optimizer.state_dict(),
            "step": self.step_count,
            "batch_generator": self.generator.get_state(),
            "torch_rng": torch.get_rng_state(),
        }

    def train_epoch(self, items: Encoded, epoch: int) -> dict:
        self.model.train()
        batches = batch_order(items.lengths, self.cfg.batch_size, self.generator, bucket=True)
        self.reporter.start_epoch(epoch, self.cfg.epochs, len(batches))
        # Loss parts are summed on the device and read only at each report: no sync per step.
        sums: dict[str, torch.Tensor] = {}
        tokens, weight_total, reported, start = 0, 0, 0, time.perf_counter()
        self.objective.attach()
        try:
            for step, rows in enumerate(batches, 1):
                batch = items.batch(rows).to(self.device)
                total, parts = self.objective(self.model(batch), batch)
                self.optimizer.zero_grad()
                total.backward()
                if self.optim_cfg.grad_clip:  # dense parameters only: norms of sparse gradients are not supported
                    torch.nn.utils.clip_grad_norm_(self.optimizer.dense, self.optim_cfg.grad_clip)
                self.optimizer.set_lr_factor(lr_factor(self.optim_cfg, self.step_count, self.total_steps))
                self.optimizer.step()
                self.step_count += 1
                self.objective.clear()  # drop captured activations: nothing grows across steps
                # Losses are means over sentences, or over tokens for tagging: weight them alike.
                weight = (batch.labels != IGNORE).sum() if items.token_labels else len(rows)
                weight_total = weight_total + weight
                for k, v in parts.items():
                    sums[k] = sums[k] + v * weight if k in sums else v * weight
                tokens += batch.num_tokens
                if step % REPORT_EVERY == 0 or step == len(batches):
                    self.reporter.step(step - reported, float(sums["loss"] / weight_total), tokens)
                    reported = step
        finally:
            self.objective.detach()
        seconds = time.perf_counter() - start
        weight_total = float(weight_total)
        record = {f"train_{k}": float(v) / weight_total for k, v in sums.items()}
        record.update(seconds=seconds, tokens_per_second=tokens / seconds if seconds > 0 else None,
                      lr=self.optimizer.param_groups[0]["lr"])
        return record

    def fit(self, items: Encoded, evaluate: Callable[[], dict], monitor: str,
            on_epoch: Callable[[int, dict, bool], None]) -> FitResult:
        """Trains for `cfg.epochs` (fewer with `patience`). After each epoch: `evaluate()` gives
        validation metrics, then `on_epoch(epoch, record, improved)` logs and checkpoints."""
        self.total_steps = math.ceil(len(items) / self.cfg.batch_size) * self.cfg.epochs
        best_epoch, best, history, stale = 0, None, [], 0
        for epoch in range(1, self.cfg.epochs + 1):
            record = {"epoch": epoch, **self.train_epoch(items, epoch)}
            record.update({f"valid_{k}": v for k, v in flatten(evaluate()).items()})
            score = record.get(f"valid_{monitor}")
            # Without a score (e.g. unseen_accuracy with no unseen word) the latest epoch counts as best.
            improved = score is None or is_better(monitor, score, best)
            if improved:
                best_epoch, best, stale = epoch, (best if score is None else score), 0
            else:
                stale += 1
            history.append(record)
            on_epoch(epoch, record, improved)
            self.reporter.end_epoch(record)
            if self.cfg.patience and stale >= self.cfg.patience:
                break
        return FitResult(best_epoch, best, history)
