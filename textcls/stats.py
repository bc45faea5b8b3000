"""What a data set holds before training: label counts, word-target counts, and the weights that
`auto` / `balanced` would derive from them."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np

from textcls.config import Config
from textcls.data import (
    NO_TARGET,
    apply_lexicon,
    lexicon_part,
    make_tokenizer,
    read_examples,
    read_lexicon,
    resolve_target,
)
from textcls.losses.classification import auto_pos_weight
from textcls.tasks import task_of


def dataset_stats(config: Config, path: str | Path | None = None) -> dict:
    """Counts for `path` (default: the config's training CSV), read with the config's columns and
    lexicon, as training would read it."""
    data, task = config.data, task_of(config)
    path = path or data.train
    tokenizer = make_tokenizer(data, task)
    examples = read_examples(path, data, task, tokenizer)
    if data.lexicon:
        lexicon = read_lexicon(data.lexicon, data.lexicon_threshold, data.lowercase)
        apply_lexicon(examples, lexicon_part(lexicon, data.lexicon_holdout), tokenizer)
    stats: dict = {"file": str(path), "rows": examples.num_examples, "tokens": int(examples.tokens.offsets[-1])}
    stats.update(task.label_stats(examples))
    if "labels" not in stats:  # values, not classes: no class weights, and word targets name no class
        return stats
    counts = stats["labels"]
    labels, total = list(counts), sum(counts.values())
    # The weights loss options `balanced` and `auto` would use (computed as textcls.losses computes them).
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
