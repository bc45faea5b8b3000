"""Losses by name, the rationale loss, regularisers, and the objective that sums them.

Every loss here takes scores (N, C) and targets (N,) for the rows or tokens that count; the
objective selects those (padding and unlabelled words never reach a loss). The objective returns
`(total, parts)`: one total for one `backward()`, and each part detached for logging.
"""

from __future__ import annotations

import fnmatch
from collections import Counter
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from textcls.batching import IGNORE, Batch
from textcls.config import LossConfig, RationaleConfig, RegularizerConfig
from textcls.errors import ConfigError
from textcls.models import ModelOutput
from textcls.tasks import Task, get_task

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def _on(weight: torch.Tensor | None, like: torch.Tensor) -> torch.Tensor | None:
    return None if weight is None else weight.to(like.device)


def _class_weights(cfg: LossConfig, counts: Counter, num_classes: int) -> torch.Tensor | None:
    if cfg.class_weights is None:
        return None
    if cfg.class_weights == "balanced":  # n / (C * count_c), as scikit-learn defines it
        total = sum(counts.values())
        return torch.tensor([total / (num_classes * max(counts.get(c, 0), 1)) for c in range(num_classes)])
    if len(cfg.class_weights) != num_classes:
        raise ConfigError(f"loss.class_weights has {len(cfg.class_weights)} values for {num_classes} classes")
    return torch.tensor(cfg.class_weights, dtype=torch.float32)


def auto_pos_weight(positives: int, negatives: int) -> float:
    """negatives / positives: makes both classes weigh the same in a BCE loss."""
    return negatives / positives if positives else 1.0


def bce(cfg: LossConfig, counts: Counter, num_classes: int) -> LossFn:
    pos_weight = cfg.pos_weight
    if pos_weight == "auto":
        pos_weight = auto_pos_weight(counts.get(1, 0), counts.get(0, 0))
    weight = None if pos_weight is None else torch.tensor(float(pos_weight))
    return lambda logits, y: F.binary_cross_entropy_with_logits(logits.squeeze(-1), y.float(), pos_weight=_on(weight, logits))


def ce(cfg: LossConfig, counts: Counter, num_classes: int) -> LossFn:
    weight = _class_weights(cfg, counts, num_classes)
    return lambda logits, y: F.cross_entropy(logits, y, weight=_on(weight, logits), label_smoothing=cfg.label_smoothing)


def nll(cfg: LossConfig, counts: Counter, num_classes: int) -> LossFn:
    # The model ends in log_softmax when this loss is chosen (see build_model): NLL of
    # log-probabilities is cross-entropy. On raw scores it would reward ever-larger scores
    # without bound, and on probabilities it is not a log-likelihood at all.
    weight = _class_weights(cfg, counts, num_classes)
    return lambda log_probs, y: F.nll_loss(log_probs, y, weight=_on(weight, log_probs))


def focal(cfg: LossConfig, counts: Counter, num_classes: int) -> LossFn:
    """Lin et al. 2017: -alpha_y (1 - p_y)^gamma log p_y, averaged. gamma = 0, no alpha: cross-entropy."""
    alpha = torch.tensor(cfg.alpha) if cfg.alpha is not None else _class_weights(cfg, counts, num_classes)
    if alpha is not None and len(alpha) != num_classes:
        raise ConfigError(f"loss.alpha has {len(alpha)} values for {num_classes} classes")

    def loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if logits.shape[-1] == 1:  # one binary logit: the two classes are (1 - sigmoid, sigmoid)
            logits = torch.cat([torch.zeros_like(logits), logits], dim=-1)
        log_p = F.log_softmax(logits, dim=-1).gather(1, y.unsqueeze(1)).squeeze(1)
        # 1 - p from expm1 and kept above 0: (1 - p)^gamma has an infinite slope at p = 1 when gamma < 1.
        one_minus_p = (-torch.expm1(log_p)).clamp_min(torch.finfo(log_p.dtype).tiny)
        per = -(one_minus_p**cfg.gamma) * log_p
        if alpha is not None:
            per = per * alpha.to(per.device)[y]
        return per.mean()

    return loss


def mse(cfg, counts, num_classes) -> LossFn:
    return lambda pred, y: F.mse_loss(pred.squeeze(-1), y)


def l1(cfg, counts, num_classes) -> LossFn:
    return lambda pred, y: F.l1_loss(pred.squeeze(-1), y)


def huber(cfg, counts, num_classes) -> LossFn:
    return lambda pred, y: F.huber_loss(pred.squeeze(-1), y, delta=cfg.beta)


# name -> factory(cfg, label_counts, num_classes); each task lists the names it accepts.
LOSSES: dict[str, Callable[..., LossFn]] = {
    "bce": bce,
    "ce": ce,
    "nll": nll,
    "focal": focal,
    "mse": mse,
    "l1": l1,
    "huber": huber,
}


# Loss options and the losses that read them: setting one for another loss is an error, not a no-op.
OPTIONS = {"pos_weight": {"bce"}, "class_weights": {"ce", "nll", "focal"}, "label_smoothing": {"ce"},
           "alpha": {"focal"}, "gamma": {"focal"}, "beta": {"huber"}}


def check_options(cfg: LossConfig, name: str) -> None:
    for option, readers in OPTIONS.items():
        if getattr(cfg, option) != LossConfig.model_fields[option].default and name not in readers:
            raise ConfigError(f"loss.{option} does not apply to loss '{name}' (it is read by: {', '.join(sorted(OPTIONS[option]))})")


def resolve_loss_name(name: str, task: Task | str, num_labels: int) -> str:
    """`auto` -> the task's default loss; any other name is checked against the task."""
    task = get_task(task)
    if name == "auto":
        return task.default_loss(num_labels)
    task.check_loss(name, num_labels)
    return name


def resolve_loss(cfg: LossConfig, task: Task | str, num_labels: int) -> str:
    """The loss `cfg.name` stands for, checked against the task and against the options set."""
    name = resolve_loss_name(cfg.name, task, num_labels)
    check_options(cfg, name)
    return name


# --- rationale supervision --------------------------------------------------------------------------


def rationale_loss(token_scores: torch.Tensor, targets: torch.Tensor, pos_weight: float | None = None,
                   normalize: str = "sentence") -> torch.Tensor:
    """Per-word loss between token scores and word targets, averaged over the labelled words.

    token_scores: (B, T, C) logits; targets: (B, T) class a word supports, IGNORE where unlabelled
    or padding. C = 1: BCE-with-logits against 0/1 (pos_weight scales the positive words);
    C > 1: cross-entropy over the word's class scores.
    normalize: "sentence" = mean per sentence, then over sentences with any labelled word;
               "token" = mean over all labelled words in the batch.
    """
    labelled = targets != IGNORE  # (B, T)
    if not labelled.any():
        return token_scores.sum() * 0.0  # keeps the graph (and device) without changing gradients
    safe = targets.clamp(min=0)
    if token_scores.shape[-1] == 1:
        weight = None if pos_weight is None else token_scores.new_tensor(pos_weight)
        per_word = F.binary_cross_entropy_with_logits(token_scores[..., 0], safe.to(token_scores.dtype), pos_weight=weight, reduction="none")
    else:
        per_word = F.cross_entropy(token_scores.transpose(1, 2), safe, reduction="none")  # (B, T)
    per_word = per_word * labelled
    if normalize == "token":
        return per_word.sum() / labelled.sum()
    counts = labelled.sum(1)
    rows = counts > 0
    return (per_word.sum(1)[rows] / counts[rows]).mean()


# --- regularisers -----------------------------------------------------------------------------------


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
            raise ConfigError(f"loss.regularizers.activation_l1: {', '.join(self.names)} produced no output "
                              "in this step (is the module used by this model?)")
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
            raise ConfigError(f"loss.regularizers.{cfg.name}: a norm of a sparse embedding touches every row each "
                              "step; set model.sparse: false to regularise it")
        self.power = 1 if cfg.name == "weight_l1" else 2

    def value(self) -> torch.Tensor:
        return sum(p.abs().sum() if self.power == 1 else p.pow(2).sum() for p in self.params)

    def attach(self) -> None: ...
    def clear(self) -> None: ...
    def detach(self) -> None: ...


REGULARIZERS = {"activation_l1": ActivationL1, "weight_l1": WeightNorm, "weight_l2": WeightNorm}


# --- the objective ------------------------------------------------------------------------------------


class Objective:
    """total = main loss + rationale.weight * rationale_loss + sum of weighted regularisers."""

    def __init__(self, task: Task | str, main_loss: LossFn, rationale: RationaleConfig, rationale_pos_weight: float | None,
                 regularizers: list[tuple[str, float, object]]):
        self.task, self.main_loss = get_task(task), main_loss
        self.rationale, self.rationale_pos_weight = rationale, rationale_pos_weight
        self.regularizers = regularizers
        self.main_name = self.task.main_loss_part

    def main(self, output: ModelOutput, batch: Batch) -> torch.Tensor:
        scores, targets = self.task.loss_inputs(output, batch)
        if not len(targets):
            return scores.sum() * 0.0  # nothing to score: zero, with the graph kept
        return self.main_loss(scores, targets)

    def weight(self, batch: Batch) -> int | torch.Tensor:
        """What the main loss of `batch` is a mean over (rows, or tagged tokens): batch losses
        weighted by it add up to the mean over an epoch."""
        return self.task.loss_weight(batch)

    def __call__(self, output: ModelOutput, batch: Batch) -> tuple[torch.Tensor, dict[str, float]]:
        total = self.main(output, batch)
        parts = {self.main_name: total.detach()}
        if self.rationale.weight > 0 and batch.targets is not None:
            r = rationale_loss(output.tokens, batch.targets, self.rationale_pos_weight, self.rationale.normalize)
            total = total + self.rationale.weight * r
            parts["rationale_loss"] = r.detach()
        if any(isinstance(reg, ActivationL1) for _, _, reg in self.regularizers):
            output.flat_tokens  # token scores computed on demand run the modules the hooks watch
        for i, (name, weight, reg) in enumerate(self.regularizers):
            value = reg.value()
            total = total + weight * value
            parts[name if name not in parts else f"{name}_{i}"] = value.detach()  # each one logged on its own
        parts["loss"] = total.detach()
        return total, parts

    def attach(self) -> None:
        for _, _, reg in self.regularizers:
            reg.attach()

    def clear(self) -> None:
        for _, _, reg in self.regularizers:
            reg.clear()

    def detach(self) -> None:
        for _, _, reg in self.regularizers:
            reg.detach()


def plain_objective(cfg: LossConfig, task: Task | str, loss_name: str, num_classes: int) -> Objective:
    """The main loss without class weights, pos_weight, rationale or regularisers: the plain mean
    loss that validation and `eval` report, comparable across runs whatever their weighting."""
    plain = cfg.model_copy(update={"class_weights": None, "pos_weight": None, "alpha": None})
    return Objective(task, LOSSES[loss_name](plain, Counter(), num_classes), cfg.rationale.model_copy(update={"weight": 0.0}), None, [])


def build_objective(cfg: LossConfig, task: Task | str, loss_name: str, num_classes: int, label_counts: Counter,
                    target_counts: Counter, model: nn.Module) -> Objective:
    """label_counts: class index -> training rows (tokens for tagging); target_counts: word targets."""
    main = LOSSES[loss_name](cfg, label_counts, num_classes)
    pos_weight = cfg.rationale.pos_weight
    if pos_weight == "auto":
        pos_weight = auto_pos_weight(target_counts.get(1, 0), target_counts.get(0, 0)) if target_counts else None
    regularizers = [(r.name, r.weight, REGULARIZERS[r.name](r, model)) for r in cfg.regularizers]
    return Objective(task, main, cfg.rationale, pos_weight, regularizers)
