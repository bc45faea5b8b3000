"""Training the bag of words with the compiled kernel (`train.engine: compiled`).

`CompiledTrainer` is the PyTorch `Trainer`'s loop (epochs, validation, patience, checkpoints,
signals, progress) with each step's updates made by the kernel: one update per example of the
step's `train.batch_size` rows (plain SGD, or row-wise AdaGrad), fastText's way, in place on the
model's own parameters (numpy views), so validation, checkpoints, run folders, predict and export
see the same weights. The learning rate is per example: it warms up over `optim.warmup_steps`
steps, then decays to 0 over the run (sgd_linear: linearly; adagrad: as `optim.schedule` says);
weight decay shrinks W, b and the rows each example reads. With train.threads > 1 each step's
rows are split among the kernel's threads, which train copies of the weights whose changes are
summed at the end of the step (the same result for the same thread count), or, with
train.hogwild, share the table without locks (faster, not reproducible). Under torchrun, each
process trains its share of every step's rows on its own weights, and the processes average
them every train.average_every examples and at the end of each epoch. The kernel's random
states (dropout, word dropout; one per thread) and AdaGrad's sums are saved with `last`, so a
resume is exact; it refuses another thread count. What the kernel does not compute is refused in
one line naming the setting.
"""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import torch

from textcls.config import OptimConfig
from textcls.distributed import Group
from textcls.encoded import Encoded
from textcls.engine import bow as engine
from textcls.errors import ConfigError
from textcls.losses.classification import class_weight_tensor
from textcls.losses.spec import LossOptions
from textcls.sampling import Shuffler
from textcls.trainer import REPORT_EVERY, Reporter, Stopped, Trainer, diverged, lr_factor


def kernel_loss(
    loss: LossOptions, counts: Counter, num_classes: int, rationale_weight: float, rationale_pos_weight: float | None
) -> engine.Loss:
    """The kernel's loss for `loss` (resolved): its options as they are, but `auto` and `balanced`
    weights made numbers from the training counts, as the loss itself makes them."""
    options = {k: v for k, v in loss.model_dump().items() if k in engine.Loss.__dataclass_fields__}
    if "pos_weight" in options:
        options["pos_weight"] = loss.positive_weight(counts, num_classes)
    if options.get("class_weights") is not None:
        options["class_weights"] = class_weight_tensor(loss.class_weights, counts, num_classes).tolist()
    return engine.Loss(**options, rationale_weight=rationale_weight, rationale_pos_weight=rationale_pos_weight)


def example_batches(items: Encoded, batch_size: int, shuffler: Shuffler | None) -> list[np.ndarray]:
    """The rows of each step: a random order of all rows (no length buckets: an update reads one
    row), cut every `batch_size` rows."""
    order = shuffler.permutation(len(items)) if shuffler is not None else np.arange(len(items))
    return [order[s : s + batch_size] for s in range(0, len(order), batch_size)]


class KernelOptimizer:
    """What the trainer keeps of an optimiser when the kernel makes the updates: the learning rate
    the log shows, and AdaGrad's accumulators (saved with `last`, for an exact resume)."""

    def __init__(self, optim: OptimConfig, batch_size: int, shape: tuple[int, int, int]):
        self.base = self.lr = optim.lr
        self.settings = engine.Optimizer(
            optim.lr,
            0,  # (the run's examples: set once they are known)
            optim.warmup_steps * batch_size,
            optim.weight_decay,
            "adagrad" if optim.name == "adagrad" else "sgd",
            "linear" if optim.name == "sgd_linear" else optim.schedule,
        )
        self.accumulators = self.settings.accumulators(*shape)

    def set_lr_factor(self, factor: float) -> None:
        self.lr = self.base * factor

    def state_dict(self) -> dict:
        return {"accumulators": [torch.from_numpy(a) for a in self.accumulators]}

    def load_state_dict(self, state: dict) -> None:
        for a, saved in zip(self.accumulators, state.get("accumulators", [])):
            a[...] = saved.numpy()


class CompiledTrainer(Trainer):
    def __init__(
        self,
        model,
        objective,
        optim,
        cfg,
        device,
        loss: engine.Loss,
        threads: int,
        reporter: Reporter | None = None,
        group: Group | None = None,
    ):
        """`group`: torchrun's processes, each training its share of every step's rows on its own
        weights, averaged every `cfg.average_every` examples and at the end of each epoch."""
        super().__init__(
            model,
            objective,
            optim,
            cfg,
            device,
            reporter,
            batches=lambda items, shuffler: example_batches(items, cfg.batch_size, shuffler),
            group=group,
        )
        self.loss = loss
        self.weights = tuple(p.detach().numpy() for p in (model.embedding.weight, model.token_head.weight, model.bias))
        self.threads = threads
        rank, world = (group.rank, group.world) if group is not None else (0, 1)
        # each thread's dropout and word-dropout draws (every process's, in rank order)
        self.every_rng = engine.seeded(cfg.seed, world * threads)
        self.rngs = self.every_rng[rank * threads : (rank + 1) * threads].copy()
        self._updater: tuple[int, engine.Updater] | None = None

    def make_optimizer(self, optim, model, batch_size) -> KernelOptimizer:
        (F, D), C = model.embedding.weight.shape, model.token_head.weight.shape[0]
        return KernelOptimizer(optim, batch_size, (F, C, D))

    def hogwild_processes(self) -> bool:
        return False  # (train.hogwild shares the weights between the kernel's threads)

    def state(self) -> dict:
        every = self.rngs if self.group is None else self.every_rng  # (gathered at the end of each epoch)
        return {**super().state(), "kernel_rng": [int(x) for x in every]}

    def restore(self, state: dict) -> None:
        super().restore(state)
        if "kernel_rng" not in state:
            raise KeyError("kernel_rng")  # (a state saved by the torch engine: refused as not this run's)
        saved = np.atleast_1d(np.asarray(state["kernel_rng"], dtype=np.uint64))
        if len(saved) != len(self.every_rng):
            world = len(self.every_rng) // self.threads
            raise ConfigError(
                f"--resume: the run trained on {len(saved) // world} kernel thread(s) per process and "
                f"train.threads now gives {self.threads}; set train.threads={len(saved) // world} (each thread "
                "has its own rows and random draws)"
            )
        self.every_rng[:] = saved
        rank = self.group.rank if self.group is not None else 0
        self.rngs[:] = saved[rank * self.threads : (rank + 1) * self.threads]

    def average(self) -> None:
        """The processes' weights and AdaGrad sums made their mean, and each one's random states
        gathered (for `state`)."""
        self.group.average([*self.weights, *(a for a in self.optimizer.accumulators if a.size)])
        if self._updater is not None:
            self._updater[1].refresh()
        self.every_rng[:] = np.asarray(self.group.gather(self.rngs.view(np.int64)), dtype=np.int64).view(np.uint64)

    def fit(self, *args, **kwargs):
        try:
            return super().fit(*args, **kwargs)
        finally:  # (the kernel's threads end with the training, however it ends)
            if self._updater is not None:
                self._updater[1].close()

    def updater(self, items: Encoded) -> engine.Updater:
        """The kernel's updates over the training rows (made once, reused every step)."""
        if self._updater is None or self._updater[0] != id(items):
            per_epoch = math.ceil(len(items) / self.cfg.batch_size)
            world = self.group.world if self.group is not None else 1
            # the examples of every epoch (each process's: it numbers its own, see _steps)
            self.optimizer.settings.total = self.total_steps // per_epoch * len(items) // world
            updater = engine.Updater(
                engine.Inputs.of(items),
                *self.weights,
                self.loss,
                self.optimizer.settings,
                self.model.dropout.p,
                self.model.word_dropout,
                self.rngs,
                self.threads,
                self.cfg.hogwild,
                self.optimizer.accumulators,
            )
            self._updater = (id(items), updater)
        return self._updater[1]

    def _steps(self, items, batches, first_step, stride, reporter, done=0, partial=None):
        """One step per batch, its rows updated one by one by the kernel. Returns the summed loss
        parts over the rows, the rows, the tokens (as Trainer._steps)."""
        update = self.updater(items)
        main_name = self.objective.main_name
        part_names = [main_name] + (
            ["rationale_loss"] if self.loss.rationale_weight > 0 and items.targets is not None else []
        )
        sums = dict(partial["sums"]) if partial else dict.fromkeys([*part_names, "loss"], 0.0)
        tokens, rows = (partial["tokens"], partial["weight"]) if partial else (0, 0)
        offsets, B = items.offsets, self.cfg.batch_size  # (no (R,) array of lengths: memory flat in R)
        first_example = first_step // len(batches) * len(items)  # (every step but an epoch's last is B examples)
        reported, every = 0, self.cfg.checkpoint_every
        group, since_average = self.group, 0
        for i in range(done, len(batches)):
            step_rows = batches[i]
            if group is None:
                parts = update(step_rows, first_example + i * B)
            else:  # this process's share, numbered as its own examples (its schedule runs over its share)
                step_rows = group.share(step_rows)
                parts = update(step_rows, (first_example + i * B) // group.world)
                since_average += len(step_rows)
                if since_average >= self.cfg.average_every or i + 1 == len(batches):
                    self.average()
                    since_average = 0
            sums[main_name] += parts["main"]
            if "rationale_loss" in sums:
                sums["rationale_loss"] += parts["rationale"]
            sums["loss"] += parts["main"] + self.loss.rationale_weight * parts["rationale"]
            rows += len(step_rows)
            tokens += int(offsets[step_rows + 1].sum() - offsets[step_rows].sum())
            if (i + 1) % REPORT_EVERY == 0 or i + 1 == len(batches):
                if not math.isfinite(sums["loss"]):
                    raise diverged(sums, first_step + i + 1)
                reporter.step(i + 1 - reported, sums["loss"] / rows, tokens)
                reported = i + 1
            if (
                self.checkpoint is not None
                and i + 1 < len(batches)
                and (self.stop_requested or (every and (first_step + i + 1) % every == 0))
            ):
                self.step_count, self.progress.batch = first_step + i + 1, i + 1
                self.partial = {"sums": sums, "weight": rows, "tokens": tokens}
                self.checkpoint()
                self.partial = None
                if self.stop_requested:
                    raise Stopped()
        # The learning rate the log shows: the next step's.
        self.optimizer.set_lr_factor(lr_factor(self.optim_cfg, first_step + len(batches), self.total_steps))
        if group is not None:  # the whole steps' sums, for the log
            names = list(sums)
            *values, rows, tokens = group.sum_all([sums[k] for k in names] + [rows, tokens])
            sums, rows, tokens = dict(zip(names, values)), int(rows), int(tokens)
        return sums, rows, tokens
