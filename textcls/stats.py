"""What a data set holds before training: label counts, word-target counts, and the weights that
`auto` / `balanced` would derive from them."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from textcls.checkpoint import make_tokenizer
from textcls.config import Config
from textcls.data import apply_lexicon, held_out, read_examples, read_lexicon, resolve_target
from textcls.losses import auto_pos_weight
from textcls.vocab import build_labels


def dataset_stats(config: Config, path: str | Path | None = None) -> dict:
    """Counts for `path` (default: the config's training CSV), read with the config's columns and
    lexicon, as training would read it."""
    data = config.data
    path = path or data.train
    tokenizer = make_tokenizer(config)
    examples = read_examples(path, data, config.task, tokenizer)
    if data.lexicon:
        lexicon = read_lexicon(data.lexicon, data.lexicon_threshold, data.lowercase)
        apply_lexicon(examples, {w: t for w, t in lexicon.items() if not held_out(w, data.lexicon_holdout)}, tokenizer)
    stats: dict = {"file": str(path), "rows": len(examples), "tokens": sum(len(e.tokens) for e in examples)}
    if config.task == "regression":
        values = sorted(e.label for e in examples)
        stats["label"] = {"min": values[0], "median": values[len(values) // 2], "max": values[-1],
                          "mean": sum(values) / len(values)}
        return stats
    counts = Counter(t for e in examples for t in e.label) if config.task == "tagging" else Counter(e.label for e in examples)
    labels = build_labels(counts)
    total = sum(counts.values())
    stats["labels"] = {label: counts[label] for label in labels}
    # The weights loss options `balanced` and `auto` would use (computed as losses.py computes them).
    stats["class_weights_balanced"] = {label: total / (len(labels) * counts[label]) for label in labels}
    if len(labels) == 2:
        stats["pos_weight_auto"] = auto_pos_weight(counts[labels[1]], counts[labels[0]])
    targets = Counter(t for e in examples for t in e.word_targets.values())
    if targets:
        stats["word_targets"] = dict(sorted(targets.items()))
        stats["rows_with_word_targets"] = sum(1 for e in examples if e.word_targets)
        if len(labels) == 2:
            resolved = Counter(resolve_target(t, labels, str(path)) for e in examples for t in e.word_targets.values())
            stats["rationale_pos_weight_auto"] = auto_pos_weight(resolved[1], resolved[0])
    return stats
