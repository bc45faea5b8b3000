"""One tag per token (e.g. part of speech, or named entities): the text comes tokenised, words
separated by spaces, and the label cell holds one tag per word. With entity tags (IO, BIO, BIOES,
from data.tag_scheme or read from the tag set) tags are decoded as the best valid sequence, and
entity-level scores and the entities found are reported too."""

from __future__ import annotations

import copy
from collections import Counter

import numpy as np

from textcls.encoded import IGNORE
from textcls.entities import allowed_transitions, detect_scheme, entity_confusions, entity_scores, entity_spans, viterbi
from textcls.errors import ConfigError, DataError
from textcls.metrics import tagging_metrics
from textcls.tasks.base import Task, class_stats, labelled, probabilities, unknown_label
from textcls.tokenize import Tokenizer, Tokens, tokenize_column
from textcls.vocab import build_labels


class Tagging(Task):
    name = "tagging"
    per_token = True
    monitors = ("accuracy", "macro_f1", "unseen_accuracy", "exact_match", "entity_f1", "loss")
    main_loss_part = "tag_loss"
    reads = ("data.tag_scheme", "model.crf")
    scheme_setting, crf = "auto", False

    def bind(self, config, state):
        bound = copy.copy(self)
        bound.scheme_setting, bound.crf = config.data.tag_scheme, getattr(config.model, "crf", False)
        return bound

    def default_loss(self, num_labels):
        return "crf" if self.crf else "ce"

    def check_loss(self, loss, num_labels):
        super().check_loss(loss, num_labels)
        if loss.tag_transitions != self.crf:
            raise ConfigError(
                "loss.name 'crf' and model.crf: true go together (a CRF output layer trained by its likelihood)"
            )

    def check_monitor(self, monitor, labels):
        if monitor.startswith("entity_") and self.scheme(labels) is None:
            raise ConfigError(
                f"train.monitor: {monitor} needs entity tags (IO, BIO or BIOES); these tags are not "
                "(set data.tag_scheme if they are)"
            )

    def scheme(self, labels: list[str]) -> str | None:
        """The entity tag scheme of this run's tags, or None for tags that are not entities."""
        if self.scheme_setting == "auto":
            return detect_scheme(labels)
        return None if self.scheme_setting == "none" else self.scheme_setting

    def decode(self, predictions, offsets: np.ndarray, labels: list[str]) -> np.ndarray:
        """(N,) each token's tag: the most probable one; with entity tags or a CRF layer, the most
        probable sequence of each row (with entity tags a valid one: never an I- without its B-)."""
        scheme, crf = self.scheme(labels), predictions.transitions
        if scheme is None and crf is None:
            return predictions.tokens.argmax(1)
        rules = allowed_transitions(labels, scheme or "io")  # (io: every sequence allowed)
        # log of the token probabilities = the token scores minus a constant per token: the same best sequence
        log_p = np.log(np.maximum(predictions.tokens, 1e-12))
        return np.concatenate([viterbi(log_p[a:b], *rules, crf) for a, b in zip(offsets[:-1], offsets[1:])])

    def read_labels(self, cells, texts, tokens, tokenizer, where, data):
        words = tokens.lengths
        if tokenizer.max_length:  # the tags are checked against the whole text, then cut as the tokens were
            words = tokenize_column(texts, Tokenizer(lowercase=False, whitespace=True)).lengths
        tags = tokenize_column(cells, Tokenizer(lowercase=False, whitespace=True))
        bad = np.flatnonzero(tags.lengths != words)
        if len(bad):
            raise DataError(f"{where(bad[0])}: {tags.lengths[bad[0]]} tags for {words[bad[0]]} tokens")
        return tags.truncate(tokenizer.max_length)

    def label_set(self, train, label_column):
        tags: Tokens = train.labels
        used = np.bincount(tags.codes[tags.codes >= 0], minlength=len(tags.types))
        return build_labels(t for t, n in zip(tags.types, used) if n)

    def encode_labels(self, dataset, label_index):
        tags: Tokens = dataset.labels
        per_type = np.array([label_index.get(t, -1) for t in tags.types] + [IGNORE], dtype=np.int64)
        ids = per_type[tags.codes]  # a code of -1 (a row without tags) picks IGNORE
        unknown = np.flatnonzero(ids == -1)
        if len(unknown):
            r = int(np.searchsorted(tags.offsets, unknown[0], side="right") - 1)
            raise unknown_label("tag", tags.types[tags.codes[unknown[0]]], list(label_index), dataset.where(r))
        return ids

    def label_stats(self, dataset):
        tags: Tokens = dataset.labels
        counts = np.bincount(tags.codes, minlength=len(tags.types))
        return class_stats(Counter({t: int(n) for t, n in zip(tags.types, counts) if n}))

    def loss_inputs(self, output, batch):
        if output.crf is not None:  # the CRF scores whole sentences: (B, T, C), (B, T), the layer
            return output.tokens, batch.labels, output.crf
        return labelled(output.tokens, batch.labels)  # (B, T, C) against (B, T) tags, IGNORE on padding

    def loss_weight(self, batch):
        return (batch.labels != IGNORE).sum()  # the loss is a mean over tagged tokens

    def token_outputs(self, scores):
        return probabilities(scores)

    def metrics(self, predictions, items, labels, reference=None):
        tags = self.decode(predictions, items.offsets, labels)
        # "Unseen" = not a training word: out of the vocabulary (which holds every training word unless
        # min_freq or max_vocab dropped some), or one of the words pretrained vectors added to it.
        metrics = tagging_metrics(items.labels, tags, items.unseen, items.row_of, labels)
        if self.scheme(labels):
            metrics.update(entity_scores(*self.entity_rows(items, tags, labels)))
        return metrics

    def figures(self, predictions, items, labels, words):
        from textcls import plots
        from textcls.metrics import confusion_matrix, per_class_scores

        real = items.labels != IGNORE
        tags = self.decode(predictions, items.offsets, labels)
        matrix = confusion_matrix(items.labels[real], tags[real], len(labels))
        off = matrix.copy()
        np.fill_diagonal(off, 0)
        top = [divmod(int(i), len(labels)) for i in np.argsort(-off, axis=None, kind="stable")[:12] if off.flat[i] > 0]
        return {
            "confusion": plots.confusion(matrix, labels, "tag confusions (rows: gold, columns: predicted)"),
            "per_class_f1": plots.bars(
                labels, [s["f1"] for s in per_class_scores(matrix, labels).values()], "F1 per tag", "F1"
            ),
            "top_confusions": plots.bars(
                [f"{labels[g]} → {labels[p]}" for g, p in top],
                [float(off[g, p]) for g, p in top],
                "most frequent tag confusions (gold → predicted)",
                "tokens",
                ",.0f",
            ),
            **(self.entity_figures(items, tags, labels) if self.scheme(labels) else {}),
        }

    def entity_figures(self, items, tags, labels) -> dict:
        """Entity F1 per type, and what became of the entities missed (textcls.entities.entity_confusions)."""
        from textcls import plots

        gold, found = self.entity_rows(items, tags, labels)
        per_type = entity_scores(gold, found)["entities"]
        confusions = entity_confusions(gold, found).most_common(12)
        name = lambda g, p: f"{g or 'none'} → {'missed' if p is None else ('boundaries' if p == g else p)}"
        return {
            "entity_f1": plots.bars(list(per_type), [s["f1"] for s in per_type.values()], "entity F1 per type", "F1"),
            "entity_confusions": plots.bars(
                [name(g, p) for (g, p), _ in confusions],
                [float(n) for _, n in confusions],
                "entities missed or mistyped (gold → predicted; none → X: spurious)",
                "entities",
                ",.0f",
            ),
        }

    @staticmethod
    def entity_rows(items, tags, labels) -> tuple[list[list[str]], list[list[str]]]:
        """Each row's gold and predicted tags as names; a token without a gold tag reads as O."""
        names = np.asarray([*labels, "O"], dtype=object)
        gold = np.where(items.labels == IGNORE, len(labels), items.labels)
        rows = lambda ids: [names[ids[a:b]].tolist() for a, b in zip(items.offsets[:-1], items.offsets[1:])]
        return rows(gold), rows(tags)

    def predict_results(self, predictions, texts, words, spans, tokens, labels):
        best = self.decode(predictions, tokens.offsets, labels)
        tags = np.asarray(labels, dtype=object)[best].tolist()
        confidence = predictions.tokens[np.arange(len(best)), best].astype(float).round(6).tolist()
        results = [
            {"text": text, "tokens": words[s], "tags": tags[s], "probabilities": confidence[s]}
            for text, s in zip(texts, spans)
        ]
        if self.scheme(labels):
            for result in results:
                result["entities"] = [
                    {"text": " ".join(result["tokens"][a:b]), "type": kind, "start": a, "end": b}
                    for kind, a, b in entity_spans(result["tags"])
                ]
        return results

    def show(self, result, console):
        from textcls.reporting import print_tags

        print_tags(
            result["text"], result["tokens"], result["tags"], result["probabilities"], console, result.get("entities")
        )
