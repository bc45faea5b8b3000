"""Word lexicons as per-token model inputs (`model.lexicon_features`): a lexicon word that training
never showed still carries its valence, beside its word vector.

Each lexicon file gives each token two numbers, and all files together one more:
- its valence: the file's score for the word (looked up lower-cased) scaled to [-1, 1] by the
  file's largest |score|; a `word,label` file gives +1 for pos/positive/1 and -1 for neg/negative/0;
  0 for a word the file lacks;
- the same valence after the rules Hutto and Gilbert (2014) describe for VADER, applied in this
  order to a word with a valence v:
  - degree modifiers: each booster ("very", "extremely") among the three tokens before the word
    moves v away from 0 by BOOST, each dampener ("slightly", "somewhat") towards 0, the second
    and third tokens back counting 0.95 and 0.9 of that;
  - capitals: a word written in capitals, in a sentence that is not all capitals, moves by CAPS;
  - negation: a negation ("not", "never", a word ending in n't) among the three tokens before
    flips v and scales it by NEGATION;
  - contrast: in a sentence with "but", words before the first "but" count half, words after it
    1.5 times;
- and (once) whether a negation lies among the three tokens before.

BOOST and CAPS are the paper's increments on VADER's -4..+4 scale, as shares of that scale, so
they weigh alike in every file. Features are (N, 2 F + 1) float32 for F files.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from textcls.errors import DataError
from textcls.tokenize import Tokens

BOOST = 0.293 / 4  # a degree modifier's step, as a share of the scale
CAPS = 0.733 / 4  # a word in capitals among words that are not
NEGATION = -0.74  # a negated word: flipped, and weaker
DISTANCE = (1.0, 0.95, 0.9)  # how much a modifier 1, 2 or 3 tokens back counts
BUT_BEFORE, BUT_AFTER = 0.5, 1.5

NEGATIONS = frozenset(
    "not no never none nobody nothing nowhere neither nor cannot without hardly barely rarely seldom "
    "aint isnt arent wasnt werent dont doesnt didnt cant couldnt wont wouldnt shouldnt hasnt havent "
    "hadnt mustnt neednt nt".split()  # (apostrophes dropped: "don't" reads "dont"; "n't" alone, "nt")
)
BOOSTERS = frozenset(
    "absolutely amazingly awfully completely considerably decidedly deeply enormously entirely "
    "especially exceptionally extremely fabulously greatly highly hugely incredibly intensely "
    "majorly more most particularly purely quite really remarkably so substantially thoroughly "
    "totally tremendously truly unbelievably unusually utterly very".split()
)
DAMPENERS = frozenset(
    "almost barely hardly kinda less little marginally occasionally partly scarcely slightly somewhat sorta".split()
)


@dataclass
class Lexicon:
    """One file's valences, scaled to [-1, 1]."""

    name: str  # the file's name, as the run folder records it
    valences: dict[str, float]  # lower-cased word -> valence


def read_valences(path: str | Path) -> Lexicon:
    """A CSV `word,score` (numbers, any scale) or `word,label` (pos / neg) -> its Lexicon."""
    from textcls.data import lexicon_scores, polarity, read_csv

    frame = read_csv(path, ["word"])
    if "score" in frame.columns:
        raw = dict(lexicon_scores(path, frame))
    elif "label" in frame.columns:
        raw = {}
        for i, (word, cell) in enumerate(zip(frame["word"], frame["label"])):
            if (side := polarity(str(cell))) is None:
                raise DataError(f"{path}, row {i + 1}, column 'label': '{cell}' is neither pos nor neg")
            raw[word] = 1.0 if side else -1.0
    else:
        raise DataError(f"{path}: a lexicon needs a 'score' or a 'label' column besides 'word'")
    largest = max((abs(v) for v in raw.values()), default=0.0)
    if not largest or not np.isfinite(largest):
        raise DataError(f"{path}: no finite score other than 0")
    words = {str(w).strip().lower(): v / largest for w, v in raw.items() if str(w).strip() and " " not in str(w)}
    return Lexicon(Path(path).name, words)


def read_lexicons(paths: list[str]) -> list[Lexicon]:
    """model.lexicon_features' files, read."""
    return [read_valences(path) for path in paths]


def num_features(files: int) -> int:
    """Numbers per token for this many lexicon files: two per file and the negation flag."""
    return 2 * files + 1 if files else 0


def to_json(lexicons: list[Lexicon]) -> list[dict]:
    """What a run folder keeps (lexicons.json), so that predicting needs no lexicon file."""
    return [{"name": x.name, "valences": x.valences} for x in lexicons]


def from_json(data) -> list[Lexicon]:
    """to_json's list back; a ValueError names what is wrong."""
    if not isinstance(data, list):
        raise ValueError("not a list of lexicons")
    lexicons = []
    for entry in data:
        valences = entry.get("valences") if isinstance(entry, dict) else None
        if not isinstance(valences, dict) or not isinstance(entry.get("name"), str):
            raise ValueError("each lexicon needs a 'name' and its 'valences' (word -> number)")
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and -1 <= v <= 1 for v in valences.values()):
            raise ValueError(f"{entry['name']}: a valence is not a number in [-1, 1]")
        lexicons.append(Lexicon(entry["name"], {str(w): float(v) for w, v in valences.items()}))
    return lexicons


def _plain(word: str) -> str:
    return word.lower().replace("'", "").replace("’", "")


def lexicon_features(tokens: Tokens, lexicons: list[Lexicon]) -> np.ndarray:
    """(N, 2 F + 1) float32: for each lexicon its valence and its valence after the rules, then
    whether the token is negated. `tokens`: as written (capitals are one of the rules)."""
    N = len(tokens.codes)
    plain = [_plain(t) for t in tokens.types]
    per_type = lambda values: np.asarray(values)[tokens.codes] if N else np.zeros(0)
    negation = per_type([w in NEGATIONS or t.lower().endswith(("n't", "n’t")) for w, t in zip(plain, tokens.types)])
    step = per_type([1.0 if w in BOOSTERS else -1.0 if w in DAMPENERS else 0.0 for w in plain])
    capitals = per_type([t.isupper() and len(t) > 1 for t in tokens.types])
    lower = per_type([any(c.islower() for c in t) for t in tokens.types])
    but = per_type([w == "but" for w in plain])

    row = tokens.row_of
    start = tokens.offsets[:-1][row]  # (N,) where each token's row starts
    position = np.arange(N)
    negated = np.zeros(N, dtype=bool)
    modifier = np.zeros(N)
    for back, weight in enumerate(DISTANCE, 1):
        before = position - back
        inside = before >= start
        before = np.where(inside, before, 0)
        negated |= inside & negation[before]
        modifier += np.where(inside, step[before] * weight, 0.0)
    mixed_rows = np.zeros(len(tokens), dtype=bool)
    np.logical_or.at(mixed_rows, row, lower)  # a row with some lower-case letters: capitals stand out
    first_but = np.full(len(tokens), np.iinfo(np.int64).max)
    np.minimum.at(first_but, row[but], position[but])
    contrast = np.where(
        first_but[row] == np.iinfo(np.int64).max,
        1.0,
        np.where(position < first_but[row], BUT_BEFORE, np.where(position > first_but[row], BUT_AFTER, 1.0)),
    )
    shout = capitals & mixed_rows[row]

    out = np.zeros((N, num_features(len(lexicons))), dtype=np.float32)
    for f, lexicon in enumerate(lexicons):
        v = per_type(
            [lexicon.valences.get(w.lower(), lexicon.valences.get(p, 0.0)) for w, p in zip(tokens.types, plain)]
        )
        direction = np.sign(v)
        ruled = v + direction * (BOOST * modifier + CAPS * shout)
        ruled = np.where(negated, ruled * NEGATION, ruled) * contrast
        out[:, 2 * f], out[:, 2 * f + 1] = v, np.where(v != 0, ruled, 0.0)
    if lexicons:
        out[:, -1] = negated
    return out
