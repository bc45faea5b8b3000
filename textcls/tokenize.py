"""Text -> tokens, for one text or a whole column at once.

`Tokenizer` is the definition (a regular expression, or whitespace for tagging corpora whose
tokens come aligned with their tags). `tokenize_column` gives the same tokens for a whole column
without a Python string per token: the column's ASCII rows are joined into one byte array, token
boundaries are found with NumPy, and each token is identified by its bytes (so equal tokens share
one entry of a small table of distinct tokens, and a Python string is made once per distinct
token). Rows with other characters go through the regular expression, row by row. The result is the CSR layout the
rest of the pipeline reads: `codes` (a token's entry in `types`) and `offsets` (where each row starts).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

# Words (keeping inner apostrophes and hyphens: "don't", "well-made"), else single symbols.
_WORD_RE = re.compile(r"[^\W_]+(?:['’-][^\W_]+)*|[^\w\s]|_+")


@dataclass(frozen=True)
class Tokenizer:
    """Splits text into tokens. `whitespace` (tagging) keeps the corpus's own tokens aligned with its tags."""

    lowercase: bool = True
    whitespace: bool = False
    max_length: int | None = None

    def words(self, text: str) -> list[str]:
        """All surface tokens, in their original case (shape features need it)."""
        return text.split() if self.whitespace else _WORD_RE.findall(text)

    def split(self, text: str) -> list[str]:
        """The tokens a model sees: `words`, cut at max_length."""
        tokens = self.words(text)
        return tokens[: self.max_length] if self.max_length else tokens

    def normalize(self, token: str) -> str:
        return token.lower() if self.lowercase else token

    def __call__(self, text: str) -> list[str]:
        return [self.normalize(t) for t in self.split(text)]


@dataclass
class Tokens:
    """The tokens of many rows. Row r holds `types[codes[offsets[r]:offsets[r + 1]]]`."""

    codes: np.ndarray  # (N,) int64: each token's index into `types`
    offsets: np.ndarray  # (R + 1,) int64: where each row starts in `codes`; offsets[-1] = N
    types: list[str]  # distinct tokens (surface forms)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    @property
    def row_of(self) -> np.ndarray:
        """(N,) the row of each token."""
        return np.repeat(np.arange(len(self)), self.lengths)

    def row(self, r: int) -> list[str]:
        return [self.types[c] for c in self.codes[self.offsets[r] : self.offsets[r + 1]]]

    @classmethod
    def from_lists(cls, rows: list[list[str]]) -> "Tokens":
        index: dict[str, int] = {}
        codes = [index.setdefault(t, len(index)) for row in rows for t in row]
        offsets = np.zeros(len(rows) + 1, dtype=np.int64)
        np.cumsum([len(r) for r in rows], out=offsets[1:])
        return cls(np.asarray(codes, dtype=np.int64), offsets, list(index))

    def map_types(self, new_types: list[str]) -> "Tokens":
        """The same tokens under `new_types` (one per old type, e.g. lower-cased), equal ones merged."""
        index: dict[str, int] = {}
        remap = np.fromiter((index.setdefault(t, len(index)) for t in new_types), dtype=np.int64, count=len(new_types))
        return Tokens(remap[self.codes], self.offsets, list(index))

    def truncate(self, max_length: int | None) -> "Tokens":
        """Each row cut to its first `max_length` tokens."""
        lengths = self.lengths
        if not max_length or lengths.max(initial=0) <= max_length:
            return self
        kept = np.minimum(lengths, max_length)
        offsets = np.zeros_like(self.offsets)
        np.cumsum(kept, out=offsets[1:])
        return Tokens(self.codes[ragged_index(self.offsets[:-1], kept)], offsets, self.types)


def ragged_index(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Positions start[i], ..., start[i] + counts[i] - 1 for every i, concatenated (no Python loop)."""
    total = int(counts.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    ends = np.cumsum(counts)
    return np.arange(total, dtype=np.int64) + np.repeat(starts - (ends - counts), counts)


# --- the vectorised path for ASCII rows ---------------------------------------------------------

# Byte classes: 0 space (what str.split() and \s treat as space in ASCII), 1 letter or digit,
# 2 underscore, 3 any other symbol, 4 an apostrophe or hyphen (inside a word when between two 1s).
_CLASS = np.full(256, 3, dtype=np.int8)
_CLASS[[9, 10, 11, 12, 13, 28, 29, 30, 31, 32]] = 0
_CLASS[[*range(48, 58), *range(65, 91), *range(97, 123)]] = 1
_CLASS[95] = 2
_CLASS[[39, 45]] = 4


def _ascii_spans(data: np.ndarray, whitespace: bool) -> tuple[np.ndarray, np.ndarray]:
    """(starts, ends) of the tokens in a byte array of ASCII text, as the regular expression (or
    str.split) finds them."""
    kind = _CLASS[data]
    if whitespace:
        kind = (kind != 0).astype(np.int8)  # one kind of token: a run of non-space
    else:
        joiner = np.flatnonzero(kind == 4)
        inner = joiner[(joiner > 0) & (joiner < len(kind) - 1)]
        inside = inner[(kind[inner - 1] == 1) & (kind[inner + 1] == 1)]
        kind[joiner] = 3  # a symbol of its own, unless it joins two word parts
        kind[inside] = 1
    padded = np.empty(len(kind) + 2, dtype=np.int8)
    padded[0] = padded[-1] = 0
    padded[1:-1] = kind
    # A token starts where the kind changes to a token kind, and every symbol is a token of its own.
    differs = padded[1:] != padded[:-1]  # (L + 1,): a change between byte i - 1 and byte i
    symbol = padded == 3
    starts = np.flatnonzero((differs[:-1] | symbol[1:-1]) & (kind != 0))
    ends = np.flatnonzero((differs[1:] | symbol[1:-1]) & (kind != 0)) + 1
    return starts, ends


_MASKS = np.array([(1 << (8 * k)) - 1 for k in range(8)] + [2**64 - 1], dtype=np.uint64)


def _factorize(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(codes, first): equal keys share a code; first[c] is where code c first appears."""
    if len(keys) < 200_000:  # small inputs (a predict call): no need to import pandas
        _, first, codes = np.unique(keys, return_index=True, return_inverse=True)
        return codes.reshape(-1), first
    import pandas as pd  # a hash table in C: linear time, where sorting is not

    codes, uniques = pd.factorize(keys, sort=False)
    # factorize numbers keys in order of first appearance: a key first appears where the running
    # maximum of the codes grows.
    return codes, np.flatnonzero(np.diff(np.maximum.accumulate(codes), prepend=-1) > 0)


def _identify(joined: bytes, data: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """(codes, types): equal tokens get equal codes. A token of up to 16 bytes is identified by its
    bytes read as two little-endian 64-bit words (exact: the words are compared, not only hashed);
    longer ones, which are rare, by their text."""
    lengths = ends - starts
    padded = np.zeros(len(data) + 16, dtype=np.uint8)
    padded[: len(data)] = data
    # Unaligned 8-byte reads at every byte offset: words[i] = bytes i .. i + 7.
    words = np.ndarray(shape=(len(data) + 9,), dtype="<u8", buffer=padded.data, strides=(1,))
    w0 = words[starts] & _MASKS[np.minimum(lengths, 8)]
    w1 = words[starts + 8] & _MASKS[np.clip(lengths - 8, 0, 8)]
    with np.errstate(over="ignore"):
        key = w0 * np.uint64(0x9E3779B97F4A7C15) + w1 * np.uint64(0xC2B2AE3D27D4EB4F) + lengths.astype(np.uint64)
    long = lengths > 16
    short = np.flatnonzero(~long)
    codes = np.empty(len(starts), dtype=np.int64)
    codes[short], first = _factorize(key[short])
    first = short[first]
    rep = first[codes[short]]
    if not ((w0[short] == w0[rep]) & (w1[short] == w1[rep]) & (lengths[short] == lengths[rep])).all():
        raise _KeyCollision  # two different tokens share a key: the caller takes the exact path
    types = [joined[s:e].decode("ascii") for s, e in zip(starts[first].tolist(), ends[first].tolist())]
    if long.any():
        index = {t: i for i, t in enumerate(types)}
        at = np.flatnonzero(long)
        codes[at] = [
            index.setdefault(joined[s:e].decode("ascii"), len(index))
            for s, e in zip(starts[at].tolist(), ends[at].tolist())
        ]
        types = list(index)
    return codes.astype(np.int64), types


def _tokenize_ascii(texts: list[str], whitespace: bool) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(codes, row of each token, types) for texts that are all ASCII."""
    joined = "\n".join(texts).encode("ascii")
    data = np.frombuffer(joined, dtype=np.uint8)
    if len(data) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), []
    starts, ends = _ascii_spans(data, whitespace)
    row_starts = np.zeros(len(texts), dtype=np.int64)
    np.cumsum([len(t) + 1 for t in texts[:-1]], out=row_starts[1:])
    rows = np.searchsorted(row_starts, starts, side="right") - 1
    codes, types = _identify(joined, data, starts, ends)
    return codes, rows, types


class _KeyCollision(Exception):
    pass


CHUNK_BYTES = 1 << 23  # text tokenised at a time (8 MB): the per-byte arrays stay small whatever the column's size


def _ascii_chunks(rows: list[int], texts: list[str]) -> list[list[int]]:
    """`rows` cut into runs of about CHUNK_BYTES of text each."""
    if not rows:
        return []
    ends = np.cumsum([len(texts[i]) + 1 for i in rows])
    cuts = np.searchsorted(ends, np.arange(CHUNK_BYTES, ends[-1], CHUNK_BYTES), side="right")
    bounds = [0, *sorted(set(cuts.tolist()) - {0, len(rows)}), len(rows)]
    return [rows[b:e] for b, e in zip(bounds[:-1], bounds[1:])]


def tokenize_column(texts: list[str], tokenizer: Tokenizer) -> Tokens:
    """Surface tokens of every text (cut at `tokenizer.max_length`), as `tokenizer.split` gives them."""
    is_ascii = [t.isascii() for t in texts]
    ascii_rows = [i for i, a in enumerate(is_ascii) if a]
    other_rows = [i for i, a in enumerate(is_ascii) if not a]
    index: dict[str, int] = {}  # the column's table of distinct tokens
    code_parts, row_parts = [], []
    for chunk in _ascii_chunks(ascii_rows, texts):
        try:
            codes, rows, types = _tokenize_ascii([texts[i] for i in chunk], tokenizer.whitespace)
        except _KeyCollision:  # two different tokens share a key: these rows take the exact path
            other_rows += chunk
            continue
        remap = np.array([index.setdefault(t, len(index)) for t in types], dtype=np.int64)
        code_parts.append(remap[codes] if len(codes) else codes)
        row_parts.append(np.asarray(chunk, dtype=np.int64)[rows] if len(rows) else rows)
    if other_rows:  # the regular expression, row by row, into the same table
        extra_codes, extra_rows = [], []
        for r in other_rows:
            for token in tokenizer.words(texts[r]):
                extra_codes.append(index.setdefault(token, len(index)))
                extra_rows.append(r)
        code_parts.append(np.asarray(extra_codes, dtype=np.int64))
        row_parts.append(np.asarray(extra_rows, dtype=np.int64))
    codes = np.concatenate(code_parts) if code_parts else np.zeros(0, dtype=np.int64)
    rows = np.concatenate(row_parts) if row_parts else np.zeros(0, dtype=np.int64)
    if other_rows:
        order = np.argsort(rows, kind="stable")  # back into row order, tokens in text order
        codes, rows = codes[order], rows[order]
    offsets = np.zeros(len(texts) + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=len(texts)), out=offsets[1:])
    return Tokens(codes, offsets, list(index)).truncate(tokenizer.max_length)
