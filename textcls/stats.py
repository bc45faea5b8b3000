"""What a data set holds before training: label counts, word-target counts, and the weights that
`auto` / `balanced` would derive from them."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np

from textcls.checkpoint import make_tokenizer
from textcls.config import Config
from textcls.data import NO_TARGET, apply_lexicon, held_out, read_examples, read_lexicon, resolve_target
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
    stats: dict = {"file": str(path), "rows": len(examples), "tokens": int(examples.tokens.offsets[-1])}
    if config.task == "regression":
        values = np.sort(examples.labels)
        stats["label"] = {"min": float(values[0]), "median": float(values[len(values) // 2]), "max": float(values[-1]),
                          "mean": float(values.mean())}
        return stats
    if config.task == "tagging":
        tags = examples.labels
        counts = Counter({t: int(n) for t, n in zip(tags.types, np.bincount(tags.codes, minlength=len(tags.types))) if n})
    else:
        counts = Counter(examples.labels.tolist())
    labels = build_labels(counts)
    total = sum(counts.values())
    stats["labels"] = {label: counts[label] for label in labels}
    # The weights loss options `balanced` and `auto` would use (computed as losses.py computes them).
    stats["class_weights_balanced"] = {label: total / (len(labels) * counts[label]) for label in labels}
    if len(labels) == 2:
        stats["pos_weight_auto"] = auto_pos_weight(counts[labels[1]], counts[labels[0]])
    if examples.targets is not None and (examples.targets != NO_TARGET).any():
        given = examples.targets[examples.targets != NO_TARGET]
        targets = Counter({examples.target_names[t]: int(n) for t, n in enumerate(np.bincount(given)) if n})
        stats["word_targets"] = dict(sorted(targets.items()))
        stats["rows_with_word_targets"] = len(np.unique(examples.tokens.row_of[examples.targets != NO_TARGET]))
        if len(labels) == 2:
            resolved = Counter()
            for name, n in targets.items():
                resolved[resolve_target(name, labels, str(path))] += n
            stats["rationale_pos_weight_auto"] = auto_pos_weight(resolved[1], resolved[0])
    return stats
