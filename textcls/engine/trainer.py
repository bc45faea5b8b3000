"""Training the bag of words with the compiled kernel (`train.engine: compiled`).

`CompiledTrainer` is the PyTorch `Trainer`'s loop (epochs, validation, patience, checkpoints,
signals, progress) with each step's updates made by the kernel: one plain SGD update per example
of the step's `train.batch_size` rows, fastText's way, in place on the model's own parameters
(numpy views), so validation, checkpoints, run folders, predict and export see the same weights.
The learning rate decays linearly to 0 per example over the run (optim sgd_linear, whose `lr` is
per example). The kernel's random state (dropout, word dropout) is saved with `last`, so a
resume is exact. What the kernel does not compute is refused in one line naming the setting.
"""

from __future__ import annotations

import math
from collections import Counter

import numpy as np

from textcls.encoded import Encoded
from textcls.engine import bow as engine
from textcls.losses.classification import class_weight_tensor
from textcls.losses.spec import LossOptions
from textcls.sampling import Shuffler
from textcls.trainer import REPORT_EVERY, Reporter, Stopped, Trainer, diverged


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


class CompiledTrainer(Trainer):
    def __init__(self, model, objective, optim, cfg, device, loss: engine.Loss, reporter: Reporter | None = None):
        super().__init__(
            model,
            objective,
            optim,
            cfg,
            device,
            reporter,
            batches=lambda items, shuffler: example_batches(items, cfg.batch_size, shuffler),
        )
        self.loss = loss
        self.weights = tuple(p.detach().numpy() for p in (model.embedding.weight, model.token_head.weight, model.bias))
        self.rng = engine.seeded(cfg.seed)  # the kernel's dropout and word-dropout draws
        self._updater: tuple[int, engine.Updater] | None = None

    def state(self) -> dict:
        return {**super().state(), "kernel_rng": int(self.rng[0])}

    def restore(self, state: dict) -> None:
        super().restore(state)
        if "kernel_rng" not in state:
            raise KeyError("kernel_rng")  # (a state saved by the torch engine: refused as not this run's)
        self.rng[0] = np.uint64(state["kernel_rng"])

    def updater(self, items: Encoded) -> engine.Updater:
        """The kernel's updates over the training rows (made once, reused every step)."""
        if self._updater is None or self._updater[0] != id(items):
            inputs = engine.Inputs.of(items)
            updater = engine.Updater.of(
                inputs, *self.weights, self.loss, self.model.dropout.p, self.model.word_dropout, self.rng
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
        lengths, B, total = items.lengths, self.cfg.batch_size, self.total_steps * self.cfg.batch_size
        reported, every = 0, self.cfg.checkpoint_every
        for i in range(done, len(batches)):
            step_rows = batches[i]
            parts = update(step_rows, self.optim_cfg.lr, (first_step + i) * B, total)
            sums[main_name] += parts["main"]
            if "rationale_loss" in sums:
                sums["rationale_loss"] += parts["rationale"]
            sums["loss"] += parts["main"] + self.loss.rationale_weight * parts["rationale"]
            rows += len(step_rows)
            tokens += int(lengths[step_rows].sum())
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
        # The learning rate the log shows, as the torch engine's sgd_linear reports it (per batch).
        self.optimizer.set_lr_factor(max(0.0, 1 - (first_step + len(batches)) / self.total_steps))
        return sums, rows, tokens
