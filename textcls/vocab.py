"""Vocabulary of tokens and the label set, both built once from training data and saved with the run."""

from __future__ import annotations

import re
from collections import Counter
from typing import Iterable

PAD, UNK = "<pad>", "<unk>"


class Vocabulary:
    """token <-> id. Id 0 is padding, id 1 the unknown token; the rest by frequency, then alphabetically.
    Ids from `trained` on are words that training never saw (added from pretrained vectors)."""

    def __init__(self, tokens: list[str], trained: int | None = None):
        self.itos = [PAD, UNK] + [t for t in tokens if t not in (PAD, UNK)]
        self.stoi = {t: i for i, t in enumerate(self.itos)}
        self.trained = len(self.itos) if trained is None else trained

    pad_id, unk_id = 0, 1

    @classmethod
    def build(cls, texts: Iterable[list[str]], min_freq: int = 1, max_size: int | None = None) -> "Vocabulary":
        return cls.from_counts(Counter(t for tokens in texts for t in tokens), min_freq, max_size)

    @classmethod
    def from_counts(cls, counts: dict[str, int], min_freq: int = 1, max_size: int | None = None) -> "Vocabulary":
        ranked = sorted((t for t, c in counts.items() if c >= min_freq), key=lambda t: (-counts[t], t))
        return cls(ranked[:max_size] if max_size else ranked)

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, token: str) -> bool:
        return token in self.stoi

    def encode(self, tokens: list[str]) -> list[int]:
        return [self.stoi.get(t, self.unk_id) for t in tokens]

    def extended(self, words: Iterable[str]) -> "Vocabulary":
        """This vocabulary and then `words` it lacks, as words training never saw."""
        return Vocabulary(self.itos[2:] + [w for w in words if w not in self.stoi], trained=len(self))

    def to_json(self) -> dict:
        return {"tokens": self.itos, **({"trained": self.trained} if self.trained != len(self) else {})}

    @classmethod
    def from_json(cls, data: dict) -> "Vocabulary":
        return cls(data["tokens"][2:], data.get("trained"))


def _natural_key(label: str):
    """Numbers sort as numbers ("2" < "10"), other labels alphabetically."""
    return [(0, int(p), "") if p.isdecimal() else (1, 0, p) for p in re.split(r"(\d+)", label) if p]


def build_labels(labels: Iterable[str]) -> list[str]:
    """Class names in sorted order: their position is the class index everywhere."""
    return sorted(set(labels), key=_natural_key)
