"""Named entities in tag sequences: the tag scheme, entity spans read as conlleval and seqeval read
them, entity-level scores, and decoding that keeps a tag sequence valid for its scheme.

Schemes: IO (I-X inside, O outside), BIO (B-X begins an entity), BIOES (also E-X ends one and S-X
is a single-token entity). Tags are `P-TYPE` with P among B, I, E, S, or `O`.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

SCHEMES = ("io", "bio", "bioes")


def detect_scheme(tags: list[str]) -> str | None:
    """The scheme a tag set is written in, or None when it holds no entity tags (e.g. parts of speech)."""
    prefixes = {t.split("-", 1)[0] for t in tags if t != "O"}
    if not tags or "O" not in tags or any("-" not in t for t in tags if t != "O"):
        return None
    if prefixes <= {"I"}:
        return "io"
    if prefixes <= {"B", "I"}:
        return "bio"
    if prefixes <= {"B", "I", "E", "S"}:
        return "bioes"
    return None


def _split(tag: str) -> tuple[str, str]:
    """`B-PER` -> ("B", "PER"); `O` -> ("O", "")."""
    prefix, _, kind = tag.partition("-")
    return prefix, kind


def _ends(prev: str, tag: str, prev_kind: str, kind: str) -> bool:
    """Whether a chunk ends before `tag` (conlleval's rules, as seqeval applies them)."""
    return (
        prev in ("E", "S")
        or (prev == "B" and tag in ("B", "S", "O"))
        or (prev == "I" and tag in ("B", "S", "O"))
        or (prev != "O" and prev_kind != kind)
    )


def _starts(prev: str, tag: str, prev_kind: str, kind: str) -> bool:
    return tag in ("B", "S") or (prev in ("E", "S", "O") and tag in ("E", "I")) or (tag != "O" and prev_kind != kind)


def entity_spans(tags: list[str]) -> list[tuple[str, int, int]]:
    """(type, start, end) of each entity, end exclusive; an I- or E- without its B- starts one."""
    spans, prev, prev_kind, begin = [], "O", "", 0
    for i, tag in enumerate([*tags, "O"]):
        prefix, kind = _split(tag)
        if _ends(prev, prefix, prev_kind, kind):
            spans.append((prev_kind, begin, i))
        if _starts(prev, prefix, prev_kind, kind):
            begin = i
        prev, prev_kind = prefix, kind
    return spans


def entity_scores(gold: list[list[str]], predicted: list[list[str]]) -> dict:
    """Exact span and type match: micro precision, recall and F1 over all entities, and per type."""
    gold_spans = {(r, *s) for r, tags in enumerate(gold) for s in entity_spans(tags)}
    found = {(r, *s) for r, tags in enumerate(predicted) for s in entity_spans(tags)}

    def prf(g: set, p: set) -> dict:
        right = len(g & p)
        precision = right / len(p) if p else 0.0
        recall = right / len(g) if g else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        return {"precision": precision, "recall": recall, "f1": f1, "support": len(g)}

    overall = prf(gold_spans, found)
    kinds = sorted({s[1] for s in gold_spans | found})
    per_type = {k: prf({s for s in gold_spans if s[1] == k}, {s for s in found if s[1] == k}) for k in kinds}
    return {
        "entity_precision": overall["precision"],
        "entity_recall": overall["recall"],
        "entity_f1": overall["f1"],
        "entities": per_type,
    }


def entity_confusions(gold: list[list[str]], predicted: list[list[str]]) -> Counter:
    """What became of each entity the tagger got wrong, counted: (gold type, predicted type) for a
    gold entity overlapped by a predicted one of another type; (type, type) when the only overlap
    has the right type but other boundaries; (type, None) when nothing overlaps it (missed), and
    (None, type) for a predicted entity that overlaps no gold one (spurious)."""
    counts: Counter = Counter()
    for gold_tags, predicted_tags in zip(gold, predicted):
        truth, found = entity_spans(gold_tags), entity_spans(predicted_tags)
        overlaps = lambda a, b: a[1] < b[2] and b[1] < a[2]
        for entity in set(truth) - set(found):
            kinds = {f[0] for f in found if overlaps(entity, f)}
            other = sorted(kinds - {entity[0]})
            counts[(entity[0], other[0] if other else (entity[0] if kinds else None))] += 1
        counts.update((None, f[0]) for f in found if not any(overlaps(f, t) for t in truth))
    return counts


def allowed_transitions(tags: list[str], scheme: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(C, C) whether tag j may follow tag i, (C,) whether a sentence may start, and end, with it.
    BIO: I-X only after B-X or I-X. BIOES also: after B-X or I-X only I-X or E-X, and E-X only
    after them; a sentence ends with E-, S- or O. IO: anything goes."""
    split = [_split(t) for t in tags]
    C = len(tags)
    follows = np.ones((C, C), dtype=bool)
    if scheme == "io":
        return follows, np.ones(C, dtype=bool), np.ones(C, dtype=bool)
    bioes = scheme == "bioes"
    for i, (q, kind) in enumerate(split):
        for j, (p, k) in enumerate(split):
            if p in ("I", "E"):  # continues an entity: only its own open one
                follows[i, j] = q in ("B", "I") and kind == k
            elif bioes and q in ("B", "I"):  # an open entity must continue or close first
                follows[i, j] = False
    starts = np.array([p not in ("I", "E") for p, _ in split])
    ends = np.array([p in ("E", "S", "O") for p, _ in split]) if bioes else np.ones(C, dtype=bool)
    return follows, starts, ends


def viterbi(
    log_probs: np.ndarray,
    follows: np.ndarray,
    starts: np.ndarray,
    ends: np.ndarray,
    scores: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """(T, C) log-probabilities -> (T,) the most probable tag sequence among the allowed ones;
    `scores`: a CRF's (transitions (C, C), start (C,), end (C,)) scores, added to the sequence's."""
    T, C = log_probs.shape
    transitions, start, end = scores if scores is not None else (np.zeros((C, C)), np.zeros(C), np.zeros(C))
    forbid = np.where(follows, transitions, -np.inf)
    score = log_probs[0] + np.where(starts, start, -np.inf)
    back = np.zeros((T, C), dtype=np.int64)
    for t in range(1, T):
        candidates = score[:, None] + forbid  # (from, to)
        back[t] = candidates.argmax(0)
        score = candidates.max(0) + log_probs[t]
    score = score + np.where(ends, end, -np.inf)
    best = [int(score.argmax())]
    for t in range(T - 1, 0, -1):
        best.append(int(back[t, best[-1]]))
    return np.array(best[::-1])
