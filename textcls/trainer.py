"""The training loop. It knows nothing about which model it trains, what the losses are, or how
progress is shown: it receives a model, an objective, encoded data, and a reporter, and calls back
after every epoch so the caller can evaluate, checkpoint and log (and, through `checkpoint`, within
an epoch: on a stop request or every `train.checkpoint_every` steps)."""

from __future__ import annotations

import math
import queue
import random
import time
from dataclasses import asdict, dataclass
from typing import Callable, Protocol

import numpy as np
import torch

from textcls.batching import Batch, TorchShuffler
from textcls.config import OptimConfig, TrainConfig, resolve_threads
from textcls.distributed import Group
from textcls.encoded import Encoded
from textcls.errors import RunError
from textcls.losses.objective import Objective
from textcls.metrics import flatten, is_better
from textcls.models.base import TextModel
from textcls.sampling import Shuffler, batch_order

STATE_KEYS = {
    "progress",
    "step",
    "optimizer",
    "scaler",
    "epoch_generator",
    "partial",
    "rng",
}  # what Trainer.state() holds
REPORT_EVERY = 25  # steps between progress reports (each one reads the running loss off the device)


class Reporter(Protocol):
    def start_epoch(self, epoch: int, epochs: int, steps: int) -> None: ...
    def step(self, steps: int, loss: float, tokens: int) -> None: ...  # `steps` more done; mean loss and tokens so far
    def end_epoch(self, record: dict) -> None: ...
    def note(self, text: str) -> None: ...  # a line about the run before training (e.g. vectors' coverage)


class NullReporter:
    def start_epoch(self, epoch, epochs, steps): ...
    def step(self, steps, loss, tokens): ...
    def end_epoch(self, record): ...
    def note(self, text): ...


def _sparse_params(model: torch.nn.Module) -> list[torch.nn.Parameter]:
    return [m.weight for m in model.modules() if isinstance(m, torch.nn.Embedding) and m.sparse]


def diverged(sums: dict, step: int) -> RunError:
    """The error for a loss that stopped being finite, naming the first such part and the step."""
    part = next((k for k, v in sums.items() if not math.isfinite(float(v))), "loss")
    return RunError(
        f"training diverged: loss part '{part.removesuffix('_loss') or part}' is not finite by step {step} "
        "(lower optim.lr or set optim.grad_clip); the checkpoints of earlier epochs are kept as they were"
    )


class Optimizer:
    """The configured optimiser.

    adamw, adam, sgd (momentum 0.9): for the dense parameters, with SparseAdam for sparse
    embeddings (their gradients cover only the rows a batch used, so a step costs nothing for the
    other rows). sgd_linear: fastText's recipe, plain SGD on every parameter (sparse rows included:
    the cheapest update there is) with the learning rate decayed linearly to 0; `lr` is per
    example, as fastText's -lr, so the step on a batch's mean loss is lr * batch_size.

    `weight_decay` reaches sparse embeddings too (SparseAdam and sparse SGD have none): at each
    step, the rows the batch used shrink (before the update) by lr * weight_decay (decoupled, as AdamW's), so a word's
    vector decays each time it is trained, and rows no batch uses cost nothing.
    """

    def __init__(self, cfg: OptimConfig, model: torch.nn.Module, batch_size: int = 1):
        sparse = _sparse_params(model)
        dense = [p for p in model.parameters() if p.requires_grad and all(p is not s for s in sparse)]
        self.dense, self.sparse, self.weight_decay = dense, sparse, cfg.weight_decay
        if cfg.name == "sgd_linear":
            groups = [{"params": dense, "weight_decay": cfg.weight_decay}] + (
                [{"params": sparse, "weight_decay": 0.0}] if sparse else []
            )
            self.optimizers = [torch.optim.SGD(groups, lr=cfg.lr * batch_size)]
        else:
            if cfg.name == "sgd":
                main = torch.optim.SGD(dense, lr=cfg.lr, momentum=0.9, weight_decay=cfg.weight_decay)
            else:
                main = (torch.optim.AdamW if cfg.name == "adamw" else torch.optim.Adam)(
                    dense, lr=cfg.lr, weight_decay=cfg.weight_decay
                )
            self.optimizers = [main] + ([torch.optim.SparseAdam(sparse, lr=cfg.lr)] if sparse else [])
        self.base_lrs = [g["lr"] for o in self.optimizers for g in o.param_groups]

    @property
    def lr(self) -> float:
        """The learning rate now (the first group's, schedule applied)."""
        return self.param_groups[0]["lr"]

    @property
    def param_groups(self) -> list[dict]:
        return [g for o in self.optimizers for g in o.param_groups]

    def set_lr_factor(self, factor: float) -> None:
        for group, base in zip(self.param_groups, self.base_lrs):
            group["lr"] = base * factor

    def zero_grad(self) -> None:
        for o in self.optimizers:
            o.zero_grad(set_to_none=True)

    def step(self, scaler: torch.amp.GradScaler | None = None) -> None:
        """One update (with fp16's `scaler`: skipped when a gradient overflowed)."""
        if self.weight_decay > 0 and self.sparse:
            self._decay_sparse_rows()  # before the update, as AdamW decays
        for o in self.optimizers:
            o.step() if scaler is None else scaler.step(o)
        if scaler is not None:
            scaler.update()

    @torch.no_grad()
    def _decay_sparse_rows(self) -> None:
        lr = self.optimizers[-1].param_groups[-1]["lr"]  # the sparse parameters' group, schedule applied
        keep = max(0.0, 1.0 - lr * self.weight_decay)
        for p in self.sparse:
            if p.grad is not None:
                rows = p.grad.coalesce().indices()[0]
                p.index_copy_(0, rows, p.index_select(0, rows) * keep)

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
    history: list[dict]  # the epochs trained by this call (a resumed run's earlier ones are in its metrics.jsonl)


@dataclass
class Progress:
    """Where training stands; saved with `last`, so that a resume continues exactly there."""

    epoch: int = 0  # epochs completed
    batch: int = 0  # batches of the next epoch already trained (a checkpoint taken mid-epoch)
    best_epoch: int = 0
    best: float | None = None  # best monitored score so far
    stale: int = 0  # epochs since it last improved


class Stopped(Exception):
    """Training stopped on request (`Trainer.stop_requested`), after saving where it stands."""


def _to(data, device: torch.device):
    """`data` (nested dicts of tensors and numbers) with its tensors on `device`."""
    if isinstance(data, dict):
        return {k: _to(v, device) for k, v in data.items()}
    return data.to(device) if isinstance(data, torch.Tensor) else data


def rng_states() -> dict:
    """torch's (and CUDA's), numpy's and Python's global random-number states, as tensors and plain data."""
    version, keys, gauss = random.getstate()
    name, np_keys, pos, has_gauss, cached = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else [],
        "numpy": {
            "keys": torch.from_numpy(np_keys.astype(np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached": float(cached),
        },
        "python": {"version": version, "keys": list(keys), "gauss": gauss},
    }


def set_rng_states(states: dict) -> None:
    torch.set_rng_state(states["torch"])
    if states["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])
    n = states["numpy"]
    np.random.set_state(("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached"]))
    p = states["python"]
    random.setstate((p["version"], tuple(p["keys"]), p["gauss"]))


class Trainer:
    def __init__(
        self,
        model: TextModel,
        objective: Objective,
        optim: OptimConfig,
        cfg: TrainConfig,
        device: torch.device,
        reporter: Reporter | None = None,
        batches: Callable[[Encoded, Shuffler], list[np.ndarray]] | None = None,
        group: Group | None = None,
    ):
        """`batches(items, shuffler)`: the rows of each batch of an epoch (default: `batch_order`,
        rows of similar length together, in random order), drawn from the trainer's generator.
        `group`: the processes that share each batch (see `distributed.py`)."""
        self.model, self.objective, self.cfg, self.device, self.group = model, objective, cfg, device, group
        self.batches = batches or (
            lambda items, shuffler: batch_order(items.lengths, cfg.batch_size, shuffler, bucket=True, arity=items.arity)
        )
        self.optim_cfg = optim
        self.optimizer = self.make_optimizer(optim, model, cfg.batch_size)
        self.autocast = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[cfg.precision]
        self.scaler = (
            torch.amp.GradScaler(device.type) if cfg.precision == "fp16" else None
        )  # fp16 gradients underflow unscaled
        self.step_count, self.total_steps, self.epochs = 0, 1, cfg.epochs
        self.reporter = reporter or NullReporter()
        self.generator = torch.Generator().manual_seed(cfg.seed)  # batch order; the model's RNG is torch's global one
        self.progress = Progress()
        self.epoch_generator = self.generator.get_state()  # the batch-order state the current epoch drew from
        self.partial: dict | None = None  # loss sums of a partly trained epoch (restored mid-epoch, or being trained)
        self.stop_requested = False  # set (e.g. by a signal handler): stop after the current step, saving `last`
        self.checkpoint: Callable[[], None] | None = (
            None  # saves `last` from inside an epoch (interrupts, checkpoint_every)
        )

    def state(self) -> dict:
        """Everything besides the weights that an exact resume needs (tensors and plain data only)."""
        between_epochs = self.progress.batch == 0
        return {
            "progress": asdict(self.progress),
            "step": self.step_count,
            "optimizer": self.optimizer.state_dict(),
            "scaler": self.scaler.state_dict() if self.scaler is not None else None,
            # The next epoch draws its batches from the generator as it is now; a partly trained
            # one draws them again from the state it started with, then skips the trained ones.
            "epoch_generator": self.generator.get_state() if between_epochs else self.epoch_generator,
            "partial": None if between_epochs else _to(self.partial, torch.device("cpu")),
            "rng": rng_states(),
        }

    def restore(self, state: dict) -> None:
        """Continues from `state()` (the weights are the caller's to load)."""
        self.progress = Progress(**state["progress"])
        self.step_count = state["step"]
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scaler is not None and state["scaler"]:
            self.scaler.load_state_dict(state["scaler"])
        self.generator.set_state(state["epoch_generator"])
        self.partial = _to(state["partial"], self.device)
        set_rng_states(state["rng"])

    def train_epoch(self, items: Encoded, epoch: int) -> dict:
        self.model.train()
        self.epoch_generator = self.generator.get_state()
        batches = self.batches(items, TorchShuffler(self.generator))
        done, partial, self.partial = self.progress.batch, self.partial, None  # (a resumed, partly trained epoch)
        start = time.perf_counter()
        if self.hogwild_processes():
            sums, weight_total, tokens = self._hogwild_epoch(items, batches, epoch)
            self.step_count += len(batches)
        else:
            self.reporter.start_epoch(epoch, self.epochs, len(batches))
            first = self.step_count - done  # the global step of this epoch's first batch
            sums, weight_total, tokens = self._steps(items, batches, first, 1, self.reporter, done, partial)
            self.step_count = first + len(batches)
        seconds = time.perf_counter() - start
        record = {f"train_{k}": v / weight_total for k, v in sums.items()}
        record.update(
            seconds=seconds, tokens_per_second=tokens / seconds if seconds > 0 else None, lr=self.optimizer.lr
        )
        return record

    def make_optimizer(self, optim: OptimConfig, model: TextModel, batch_size: int) -> "Optimizer":
        return Optimizer(optim, model, batch_size)

    def hogwild_processes(self) -> bool:
        """Whether epochs are trained by processes sharing the weights (train.hogwild, threads > 1)."""
        return self.cfg.hogwild and resolve_threads(self.cfg.threads) > 1

    def _steps(
        self,
        items: Encoded,
        batches: list,
        first_step: int,
        stride: int,
        reporter: Reporter,
        done: int = 0,
        partial: dict | None = None,
    ) -> tuple[dict[str, float], float, int]:
        """One optimiser step per batch; batch i is global step first_step + i * stride (for the
        learning-rate schedule). Returns the weighted sums of the loss parts, their weight, tokens.
        `done` batches were trained before a resume, with the sums in `partial`.

        With stride 1 (one process trains every batch), training can stop after any step: on
        `stop_requested` (saving `last` first) and at `checkpoint_every` steps (saving `last`)."""
        # Loss parts are summed on the device and read only at each report: no sync per step (but
        # under torchrun, whose processes agree on each batch's weight).
        sums: dict[str, torch.Tensor] = dict(partial["sums"]) if partial else {}
        tokens, weight_total = (partial["tokens"], partial["weight"]) if partial else (0, 0)
        reported, every = 0, self.cfg.checkpoint_every
        resumable = stride == 1 and self.checkpoint is not None
        self.objective.attach()
        try:
            for i in range(done, len(batches)):
                rows = batches[i]
                if self.group is not None:
                    rows = self.group.share(rows)
                batch = Batch.of(items, rows).to(self.device)
                with torch.autocast(
                    self.device.type, dtype=self.autocast or torch.float32, enabled=self.autocast is not None
                ):
                    total, parts = self.objective(self.model(batch), batch)
                weight = self.objective.weight(batch)  # what the loss is a mean over (rows, or tagged tokens)
                if self.group is not None:  # this share's part of the global batch's mean; gradients are summed
                    total = total * (float(weight) / self.group.sum(float(weight)))
                self.optimizer.zero_grad()
                (total if self.scaler is None else self.scaler.scale(total)).backward()
                if self.group is not None:
                    self.group.sum_gradients(self.optimizer.dense, self.optimizer.sparse)
                if self.scaler is not None:
                    for o in self.optimizer.optimizers:
                        self.scaler.unscale_(o)
                if self.optim_cfg.grad_clip:  # dense parameters only: norms of sparse gradients are not supported
                    torch.nn.utils.clip_grad_norm_(self.optimizer.dense, self.optim_cfg.grad_clip)
                self.optimizer.set_lr_factor(lr_factor(self.optim_cfg, first_step + i * stride, self.total_steps))
                self.optimizer.step() if self.scaler is None else self.optimizer.step(self.scaler)
                self.objective.clear()  # drop captured activations: nothing grows across steps
                weight_total = weight_total + weight
                for k, v in parts.items():
                    sums[k] = sums[k] + v * weight if k in sums else v * weight
                tokens += batch.num_tokens
                if (i + 1) % REPORT_EVERY == 0 or i + 1 == len(batches):
                    mean_loss = float(sums["loss"] / weight_total)  # (read only here: no sync per step)
                    if not math.isfinite(mean_loss):
                        raise diverged(sums, first_step + i * stride + 1)
                    reporter.step(i + 1 - reported, mean_loss, tokens)
                    reported = i + 1
                if (
                    resumable
                    and i + 1 < len(batches)
                    and (self.stop_requested or (every and (first_step + i + 1) % every == 0))
                ):
                    self.step_count, self.progress.batch = first_step + i + 1, i + 1
                    self.partial = {"sums": sums, "weight": weight_total, "tokens": tokens}
                    if not all(math.isfinite(float(v)) for v in sums.values()):  # never save a diverged state
                        raise diverged(sums, first_step + i + 1)
                    self.checkpoint()
                    self.partial = None
                    if self.stop_requested:
                        raise Stopped()
        finally:
            self.objective.detach()
        if self.group is not None:  # the whole global batches' sums, for the log
            names = list(sums)
            *values, weight_total, tokens = self.group.sum_all(
                [float(sums[k]) for k in names] + [float(weight_total), tokens]
            )
            return dict(zip(names, values)), weight_total, int(tokens)
        return {k: float(v) for k, v in sums.items()}, float(weight_total), tokens

    def _hogwild_epoch(self, items: Encoded, batches: list, epoch: int) -> tuple[dict[str, float], float, int]:
        """Hogwild (Recht et al. 2011), as fastText trains: P processes (one per thread) share the
        weights and update them without locks, each on every P-th batch, one thread each. Not
        reproducible: updates interleave as the scheduler lets them."""
        import multiprocessing

        P = resolve_threads(self.cfg.threads)
        self.optimizer.zero_grad()  # (sparse gradients cannot move to shared memory)
        self.model.share_memory()  # weights in shared memory: every process updates the same ones
        context = multiprocessing.get_context("fork")  # the children share the weights and the data as they are
        results = context.Queue()
        workers = [
            context.Process(target=self._hogwild_worker, args=(items, batches[w::P], w, P, epoch, results))
            for w in range(1, P)
        ]
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        for worker in workers:
            worker.start()
        try:
            self.reporter.start_epoch(epoch, self.epochs, len(batches[0::P]))
            totals = [self._steps(items, batches[0::P], self.step_count, P, self.reporter)]
            dead: set[int] = set()
            while len(totals) < P:
                try:
                    totals.append(results.get(timeout=1))
                except queue.Empty:  # a child killed before it could report must not hang the parent
                    newly = {i for i, worker in enumerate(workers) if worker.exitcode not in (None, 0)} - dead
                    dead |= newly
                    totals += ["a training process ended without reporting"] * len(newly)
        finally:
            for worker in workers:
                worker.join()
            torch.set_num_threads(threads)
        failed = [t for t in totals if isinstance(t, str)]
        if failed:
            raise RuntimeError(f"a Hogwild training process failed: {failed[0]}")
        sums: dict[str, float] = {}
        for part_sums, _, _ in totals:
            for k, v in part_sums.items():
                sums[k] = sums.get(k, 0.0) + v
        return sums, sum(t[1] for t in totals), sum(t[2] for t in totals)

    def _hogwild_worker(self, items: Encoded, batches: list, w: int, P: int, epoch: int, results) -> None:
        try:
            torch.manual_seed(self.cfg.seed * 1_000_003 + epoch * P + w)  # its own dropout draws
            results.put(self._steps(items, batches, self.step_count + w, P, NullReporter()))
        except BaseException as exc:  # the parent reports it; a child must never hang the parent
            results.put(f"{type(exc).__name__}: {exc}")

    def fit(
        self, items: Encoded, evaluate: Callable[[], dict], monitor: str, on_epoch: Callable[[int, dict, bool], None]
    ) -> FitResult:
        """Trains for `cfg.epochs` (more while they take fewer than `cfg.min_steps` steps; fewer with
        `patience`), from `self.progress` on (a resumed run's). After each epoch: `evaluate()` gives
        validation metrics, then `on_epoch(epoch, record, improved)` checkpoints and logs."""
        per_epoch = len(
            self.batches(items, TorchShuffler(torch.Generator().manual_seed(self.cfg.seed)))
        )  # (a throwaway draw)
        self.epochs = max(self.cfg.epochs, math.ceil((self.cfg.min_steps or 0) / max(per_epoch, 1)))
        self.total_steps = per_epoch * self.epochs  # (extended on resume: the schedule then spans the new total)
        p, history = self.progress, []
        while p.epoch < self.epochs and not self.stopped_early:
            epoch = p.epoch + 1
            record = {"epoch": epoch, **self.train_epoch(items, epoch)}
            record.update({f"valid_{k}": v for k, v in flatten(evaluate()).items()})
            score = record.get(f"valid_{monitor}")
            # Without a score (e.g. unseen_accuracy with no unseen word) the latest epoch counts as best.
            improved = score is None or is_better(monitor, score, p.best)
            if improved:
                p.best_epoch, p.best, p.stale = epoch, (p.best if score is None else score), 0
            else:
                p.stale += 1
            p.epoch, p.batch = epoch, 0
            history.append(record)
            on_epoch(epoch, record, improved)
            self.reporter.end_epoch(record)
            if self.stop_requested and p.epoch < self.epochs:
                raise Stopped()  # (`last` was saved by on_epoch)
        return FitResult(p.best_epoch, p.best, history)

    @property
    def stopped_early(self) -> bool:
        return bool(self.cfg.patience) and self.progress.stale >= self.cfg.patience
