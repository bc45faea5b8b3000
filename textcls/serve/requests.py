"""What a request to the server may hold: its body read, decoded and checked into a `PredictRequest`,
or a `BadRequest` with the 4xx status and the one-line message the client gets as JSON."""

from __future__ import annotations

from dataclasses import dataclass


class BadRequest(Exception):
    """A request the server refuses: `status` (4xx) and a message naming what is wrong."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


@dataclass
class Limits:
    max_texts: int = 1_000  # texts per request
    max_chars: int = 100_000  # characters per text

    @property
    def max_bytes(self) -> int:
        """The largest body worth reading: every text at its longest, 4 bytes a character, and room."""
        return self.max_texts * (4 * self.max_chars + 16) + 4_096


@dataclass
class PredictRequest:
    texts: list[str]
    word_scores: bool = True
    top_k: int | None = None


def json_body(content_type: str | None, body: bytes, limits: Limits):
    """The body as JSON: 415 for another content type, 413 for a body beyond any request the limits
    allow, 400 for bytes that are not UTF-8 or not JSON."""
    import orjson

    media = (content_type or "").split(";")[0].strip().lower()
    if media != "application/json":
        raise BadRequest(415, f"the body must be application/json, not {media or 'untyped'}")
    if len(body) > limits.max_bytes:
        raise BadRequest(413, f"a body of {len(body):,} bytes is larger than the limits allow")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest(400, f"the body is not UTF-8 (byte 0x{body[exc.start]:02x} at offset {exc.start})") from None
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(400, f"the body is not JSON ({exc})") from None


def texts_of(data, limits: Limits, field: str = "texts") -> list[str]:
    """`data[field]`: a non-empty list of non-blank strings within the limits (422 or 413)."""
    texts = data.get(field)
    if not isinstance(texts, list) or not texts:
        raise BadRequest(422, f"'{field}' must be a non-empty list of strings")
    if len(texts) > limits.max_texts:
        raise BadRequest(413, f"{len(texts):,} texts in one request; at most {limits.max_texts:,} (--max-texts)")
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise BadRequest(422, f"'{field}'[{i}] must be a string, not {type(text).__name__}")
        if not text.strip():
            raise BadRequest(422, f"'{field}'[{i}] is empty")
        if len(text) > limits.max_chars:
            raise BadRequest(
                413, f"'{field}'[{i}] has {len(text):,} characters; at most {limits.max_chars:,} (--max-chars)"
            )
    return texts


def object_with(data, allowed: tuple[str, ...]) -> dict:
    """`data` as a JSON object holding only `allowed` fields (422 naming the first other one)."""
    if not isinstance(data, dict):
        raise BadRequest(422, f"the body must be a JSON object with {', '.join(repr(a) for a in allowed)}")
    unknown = next((key for key in data if key not in allowed), None)
    if unknown is not None:
        raise BadRequest(422, f"unknown field '{unknown}' (fields: {', '.join(allowed)})")
    return data


def predict_request(data, limits: Limits) -> PredictRequest:
    data = object_with(data, ("texts", "word_scores", "top_k"))
    word_scores, top_k = data.get("word_scores", True), data.get("top_k")
    if not isinstance(word_scores, bool):
        raise BadRequest(422, "'word_scores' must be true or false")
    if top_k is not None and (not isinstance(top_k, int) or isinstance(top_k, bool) or top_k < 1):
        raise BadRequest(422, "'top_k' must be a whole number from 1")
    return PredictRequest(texts_of(data, limits), word_scores, top_k)
