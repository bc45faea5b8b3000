"""One tag per token (e.g. part of speech): the text comes tokenised, words separated by spaces,
and the label cell holds one tag per word."""

from __future__ import annotations

from collections import Counter

import numpy as np

from textcls.batching import IGNORE
from textcls.errors import DataError
from textcls.metrics import tagging_metrics
from textcls.tasks.base import Task, class_stats, labelled, unknown_label
from textcls.tokenize import Tokenizer, Tokens, tokenize_column
from textcls.vocab import Vocabulary, build_labels


class Tagging(Task):
    name = "tagging"
    per_token = True
    losses = ("ce", "nll", "focal")
    monitors = ("accuracy", "macro_f1", "unseen_accuracy", "exact_match", "loss")
    main_loss_part = "tag_loss"

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
        return labelled(output.tokens, batch.labels)  # (B, T, C) against (B, T) tags, IGNORE on padding

    def loss_weight(self, batch):
        return (batch.labels != IGNORE).sum()  # the loss is a mean over tagged tokens

    def token_outputs(self, tokens):
        return tokens.softmax(-1)

    def metrics(self, predictions, items, labels, reference=None):
        # "Unseen" = out of the vocabulary, which holds every training word unless min_freq or
        # max_vocab dropped some.
        return tagging_metrics(items.labels, predictions.tokens.argmax(1), items.ids == Vocabulary.unk_id, items.row_of, labels)

    def predict_results(self, predictions, texts, words, spans, tokens, labels):
        best = predictions.tokens.argmax(1)
        tags = np.asarray(labels, dtype=object)[best].tolist()
        confidence = predictions.tokens[np.arange(len(best)), best].tolist()
        return [{"text": text, "tokens": words[s], "tags": tags[s], "probabilities": confidence[s]}
                for text, s in zip(texts, spans)]

    def show(self, result, console):
        from textcls.reporting import print_tags

        print_tags(result["text"], result["tokens"], result["tags"], result["probabilities"], console)
