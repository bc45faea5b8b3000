"""What a task is: everything that differs between classification, tagging, regression and the
tasks to come, so that the rest of the package never asks which task it runs.

A task owns its labels from the CSV cell to the printed prediction: reading and checking the
label column, the label set a run saves, encoding labels for batches, the number of model outputs,
the losses it accepts (and its default), which model output feeds the loss and what count weighs
it, its metrics and the monitors it offers, and what `predict` returns and prints.

A new task is one module in this package (a subclass of `Task`) plus one line in `TASKS`.
Task modules import numpy, never torch: a run's labels, outputs and tuned state can be read and
shown without it.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Callable

import numpy as np

from textcls.encoded import IGNORE, Encoded
from textcls.errors import ConfigError, DataError
from textcls.losses import LOSSES
from textcls.losses.spec import LossOptions
from textcls.sampling import Shuffler, batch_order
from textcls.tokenize import Tokenizer, Tokens
from textcls.vocab import build_labels

if TYPE_CHECKING:  # types only: these modules sit above the tasks
    import torch
    from rich.console import Console

    from textcls.batching import Batch
    from textcls.config import Config, DataConfig, TrainConfig
    from textcls.data import Dataset
    from textcls.models.base import ModelOutput
    from textcls.predictions import Predictions

Where = Callable[[int], str]  # row index -> "file, row n, column 'c'" for error messages


class Task:
    """The defaults describe a task with one label per sentence; subclasses override what differs."""

    name: str = ""
    per_token: bool = False  # labels and model outputs per token (pre-tokenised text, one label per word)
    has_classes: bool = True  # labels name classes (the run needs its label set; class counts feed auto weights)
    monitors: tuple[str, ...] = ("loss",)  # metrics train.monitor may name; the first is the default
    main_loss_part: str = "sentence_loss"  # the main loss's name in logs and metrics
    explains: bool = False  # token scores are evidence for a class: word targets, rationale metrics, faithfulness
    sort_by: str | None = None  # the result key `predict --sort` orders by, highest first
    token_scores: bool = True  # predict computes and shows each token's score
    empty_label: bool = False  # an empty label cell is allowed (e.g. a row with none of the labels)
    stratified_split: bool = False  # one class per row: a validation fraction is split off class by class
    reference_split: str | None = None  # "train" or "valid": its outputs are passed to `metrics` too
    reads: tuple[str, ...] = ()  # config fields only this task (and tasks that list them too) reads
    losses: tuple[str, ...] = ()  # losses it takes besides those that name it (each loss lists the tasks it serves)
    exports: bool = True  # `textcls export` writes its model: its outputs are the model's (logits, token scores)

    def __repr__(self) -> str:
        return f"<task {self.name}>"

    def bind(self, config: Config, state: dict) -> "Task":
        """This task for one run: a task whose behaviour depends on settings of the config (which
        columns hold an example, which distance) or on what `tune` found returns a copy that holds them."""
        return self

    def tune(self, predictions: Predictions, items: Encoded) -> dict:
        """What to fix from the best model's validation outputs (e.g. decision thresholds), saved
        with the run (task.json) and given back to `bind`; {} when nothing is tuned."""
        return {}

    # --- data ------------------------------------------------------------------------------------

    def columns(self, data: DataConfig) -> tuple[list[str], str | None]:
        """The text columns of an example (one, or a pair, a triplet) and the label column, if any."""
        return [data.text_column], data.label_column

    def read_labels(
        self, cells: list[str], texts: list[str], tokens: Tokens, tokenizer: Tokenizer, where: Where, data: DataConfig
    ):
        """The label column (cells already checked non-empty) as the Dataset holds it; the first bad
        cell is a DataError naming its row and column. `texts` and `tokens` are the first text column's."""
        raise NotImplementedError

    def label_set(self, train: Dataset, label_column: str) -> list[str]:
        """The labels a run saves; their position is the class index everywhere."""
        return []

    def encode_labels(self, dataset: Dataset, label_index: dict[str, int]) -> np.ndarray:
        """Labels as the batches carry them: IGNORE where a row (or token) has none."""
        raise NotImplementedError

    def check_monitor(self, monitor: str, labels: list[str]) -> None:
        """An error when `monitor`, one of `monitors`, can never be measured with these labels."""

    def label_counts(self, items: Encoded) -> Counter:
        """Training counts per class index (for `balanced` and `auto` weights); empty without classes."""
        if not self.has_classes or items.labels is None:
            return Counter()
        values = items.labels[items.labels != IGNORE]
        return Counter({int(v): int(n) for v, n in enumerate(np.bincount(values)) if n})

    def batches(self, items: Encoded, cfg: TrainConfig, shuffler: Shuffler | None) -> list[np.ndarray]:
        """The rows of each training batch of an epoch: rows of similar length together, in random
        order, examples of several texts kept whole."""
        return batch_order(items.lengths, cfg.batch_size, shuffler, bucket=True, arity=items.arity)

    def label_stats(self, dataset: Dataset) -> dict:
        """What `textcls stats` shows about the labels: {"labels": count per class} for a task with
        classes (the stats add the weights those counts imply), else a summary of the values."""
        raise NotImplementedError

    # --- model and loss ----------------------------------------------------------------------------
    # (Methods that take model outputs or batches receive torch tensors and use their methods: a
    # task module itself never imports torch.)

    def loss_names(self) -> list[str]:
        """The losses that serve this task, in LOSSES's order: those that name it in their `tasks`,
        and those it names in `losses`."""
        return [name for name, loss in LOSSES.items() if self.name in loss.tasks or name in self.losses]

    def default_loss(self, num_labels: int) -> str:
        return self.loss_names()[0]

    def check_loss(self, loss: type[LossOptions], num_labels: int) -> None:
        if loss.loss_name() not in self.loss_names():
            raise ConfigError(
                f"loss.name '{loss.loss_name()}' does not fit task '{self.name}' "
                f"(choose one of: {', '.join(self.loss_names())})"
            )

    def num_outputs(self, loss: type[LossOptions], num_labels: int) -> int:
        """Model outputs per sentence (or token): one score per class by default."""
        return num_labels

    def loss_inputs(self, output: ModelOutput, batch: Batch) -> tuple[torch.Tensor, ...]:
        """(scores, targets, ...) the main loss is called with: by default the sentence outputs of
        the labelled rows and their labels. IGNORE marks rows without a label (lexicon words
        trained alone for their word target)."""
        return labelled(output.sentence, batch.labels)

    def loss_rows(self, batch: Batch) -> torch.Tensor:
        """(B,) True for the rows `loss_inputs` keeps, in order (row weights are picked with it)."""
        return batch.labels != IGNORE

    def loss_weight(self, batch: Batch) -> int | torch.Tensor:
        """What the main loss is a mean over, so that batch means add up to an epoch mean."""
        return batch.size

    # --- predictions, metrics, output -------------------------------------------------------------

    sentence_source = "logits"  # what Predictions.sentence is made of: the sentence logits, or "embedding"

    def sentence_outputs(self, logits: np.ndarray) -> np.ndarray:
        """(R, outputs) sentence logits (float64, any backend) -> what Predictions.sentence holds
        per row: the logits by default (probabilities, a value: the task's)."""
        return logits

    def token_outputs(self, scores: np.ndarray) -> np.ndarray:
        """(N, outputs) token scores (float64) -> what Predictions.tokens holds: the scores by default."""
        return scores

    def metrics(
        self,
        predictions: Predictions,
        items: Encoded,
        labels: list[str],
        reference: tuple[Predictions, Encoded] | None = None,
    ) -> dict:
        """Metrics of `predictions` against the labels `items` carry. `reference`: the predictions
        and items of `reference_split`, for tasks that set it (e.g. neighbours among training rows)."""
        raise NotImplementedError

    def figures(self, predictions: Predictions, items: Encoded, labels: list[str], words: list[list[str]]) -> dict:
        """name -> matplotlib Figure: the task's own pictures of labelled predictions, for the report
        (`words`: each row's tokens). Drawn with `textcls.plots`."""
        return {}

    def predict_results(
        self,
        predictions: Predictions,
        texts: list[str],
        words: list[str],
        spans: list[slice],
        tokens: Tokens,
        labels: list[str],
    ) -> list[dict]:
        """One JSON-ready result per text. `words[spans[i]]` are text i's tokens; token outputs are
        flat, row after row, as `words` is."""
        raise NotImplementedError

    json_lines = None  # (predictions, texts, tokens, labels, lines) -> predict_results as JSON lines (bytes), if given

    def show(self, result: dict, console: Console) -> None:
        """Prints one result of `predict_results` for people."""
        raise NotImplementedError


def sigmoid(z: np.ndarray) -> np.ndarray:
    """1 / (1 + e^-z) without overflow, exact in both tails."""
    return np.exp(-np.logaddexp(0.0, -z))


def probabilities(logits: np.ndarray) -> np.ndarray:
    """(R, C) class probabilities from (R, outputs) sentence logits: one logit -> (1 - p, p), as
    sigmoid(-z) and sigmoid(z) (exact for small probabilities too); else softmax (softmax of
    log-probabilities, as loss nll's model gives, is the same distribution)."""
    if logits.shape[-1] == 1:
        return np.concatenate([sigmoid(-logits), sigmoid(logits)], axis=-1)
    shifted = np.exp(logits - logits.max(-1, keepdims=True))
    return shifted / shifted.sum(-1, keepdims=True)


def labelled(scores: torch.Tensor, labels: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    """The scores and labels where a label is given (no label at all: empty selections)."""
    if labels is None:
        return scores[:0], scores.new_zeros(0).long()
    keep = labels != IGNORE
    return scores[keep], labels[keep]


def class_stats(counts: Counter) -> dict:
    """Rows (or tokens) per class, in class-index order."""
    return {"labels": {label: counts[label] for label in build_labels(counts)}}


def encode_classes(dataset: Dataset, label_index: dict[str, int]) -> np.ndarray:
    """(R,) each row's class index, IGNORE for a row without a label; a label never seen in
    training is an error naming its row."""
    ids = np.array(
        [IGNORE if label is None else label_index.get(label, -1) for label in dataset.labels], dtype=np.int64
    )
    unknown = np.flatnonzero(ids == -1)
    if len(unknown):
        raise unknown_label("label", dataset.labels[unknown[0]], list(label_index), dataset.where(unknown[0]))
    return ids


def unknown_label(kind: str, value: str, labels: list[str], where: str) -> DataError:
    return DataError(f"{where}: {kind} '{value}' was never seen in training (known: {', '.join(labels)})")
