"""JSON Lines from columns: one result per row without a dict per row. Each column (texts, the
label of each row, each row's tokens and their scores) is serialised once by orjson and cut at the
rows' boundaries, and a row's line is its pieces in a byte template: the same bytes as
`orjson.dumps` of the row's result dict (a test holds the two together), at a fraction of the
cost. What `predict --format json` writes for tasks whose results have a fixed shape."""

from __future__ import annotations

import numpy as np
import orjson

from textcls.tokenize import Tokens


def json_key(name: str) -> bytes:
    return orjson.dumps(name) + b":"


def elements(values: list) -> tuple[bytes, np.ndarray, np.ndarray]:
    """(orjson's list of numbers, where each element starts, where it ends): numbers hold no comma."""
    flat = orjson.dumps(values)
    commas = np.flatnonzero(np.frombuffer(flat, dtype=np.uint8) == ord(","))
    return flat, np.concatenate([[1], commas + 1]), np.concatenate([commas, [len(flat) - 1]])


def numbers(values: np.ndarray) -> list[bytes]:
    """Each value as orjson writes it."""
    flat, starts, ends = elements(values.tolist())
    return [flat[a:b] for a, b in zip(starts.tolist(), ends.tolist())] if len(values) else []


def per_row(flat: bytes, starts: np.ndarray, ends: np.ndarray, offsets: np.ndarray) -> list[bytes]:
    """Each row's JSON list, from its elements' places in `flat` (row r: elements offsets[r] to
    offsets[r + 1] - 1; no row is empty)."""
    first, last = starts[offsets[:-1]].tolist(), ends[offsets[1:] - 1].tolist()
    return [b"[" + flat[a:b] + b"]" for a, b in zip(first, last)]


def token_numbers(values: np.ndarray, offsets: np.ndarray) -> list[bytes]:
    """Each row's JSON list of its tokens' values."""
    return per_row(*elements(values.tolist()), offsets)


def token_strings(tokens: Tokens) -> list[bytes]:
    """Each row's JSON list of its tokens (each one's length in JSON from its type's, once a type)."""
    lengths = np.array([len(orjson.dumps(t)) for t in tokens.types] + [0], dtype=np.int64)[tokens.codes]
    starts = 1 + np.concatenate([[0], np.cumsum(lengths[:-1] + 1)])  # after "[" and each ","
    flat = orjson.dumps(np.asarray(tokens.types, dtype=object)[tokens.codes].tolist())
    return per_row(flat, starts, starts + lengths, tokens.offsets)


def lines(fields: list[tuple[str, list[bytes]]], numbers_at_end: list[int]) -> list[bytes]:
    """Each row's line: `{"name":piece,...,"line":n}` from (name, pieces per row) in order, then
    each row's `"line"` number."""
    template = b"{" + b",".join(json_key(name) + b"%b" for name, _ in fields) + b',"line":%d}'
    return [template % row for row in zip(*(pieces for _, pieces in fields), numbers_at_end)]
