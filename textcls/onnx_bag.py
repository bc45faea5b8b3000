"""The exported bag of words (`textcls export`: a `FlatBag`) through onnxruntime, without torch:
`NumpyBag`'s forward pass from the ONNX file, for `predict` and `eval --backend onnx` of runs the
numpy backend serves."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from textcls.encoded import Encoded
from textcls.errors import RunError, first_line


def flat_inputs(items: Encoded) -> dict[str, np.ndarray]:
    """The exported bag's inputs (export.FlatBag) from an `Encoded` of the rows to score."""
    out = {"ids": items.ids, "offsets": items.offsets}
    if items.ngrams is not None:
        out["ngrams"] = items.ngrams
    if items.subwords is not None:
        out.update(word_types=items.word_types, subwords=items.subwords.values, subword_offsets=items.subwords.offsets)
    return {k: np.ascontiguousarray(v, dtype=np.int64) for k, v in out.items()}


def is_flat(path: Path) -> bool:
    """Whether the export at `path` is the flat bag of words (its description lists `offsets`)."""
    import json

    try:
        return "offsets" in json.loads(path.with_suffix(".json").read_text())["inputs"]
    except (OSError, ValueError, KeyError, TypeError):
        return False


class OnnxBag:
    """The flat bag of words in `path`, behind `NumpyBag`'s interface."""

    def __init__(self, path: str | Path):
        try:
            import onnxruntime
        except ImportError:
            raise RunError("--backend onnx needs onnxruntime: pip install 'textcls[export]'") from None
        self.path = Path(path)
        if not self.path.is_file():
            raise RunError(f"{self.path}: no exported model (make it with `textcls export RUN`)")
        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3
        try:
            self.session = onnxruntime.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime's own error types: a damaged or foreign file
            raise RunError(f"{self.path}: onnxruntime cannot load it ({first_line(exc)}): export it again") from None
        self.names = [i.name for i in self.session.get_inputs()]

    def subword_scores(self, items: Encoded) -> None:
        return None  # (the graph sums each batch's character n-grams itself)

    def forward(self, items: Encoded, with_tokens: bool = False, subwords=None) -> tuple[np.ndarray, np.ndarray | None]:
        inputs = flat_inputs(items)
        missing = [n for n in self.names if n not in inputs]
        if missing:
            raise RunError(
                f"{self.path}: the exported model reads {missing}, which this run's inputs lack: export this run again"
            )
        try:
            sentence, tokens = self.session.run(None, {n: inputs[n] for n in self.names})
        except Exception as exc:  # e.g. a model exported from another run: ids beyond its tables
            raise RunError(
                f"{self.path}: the exported model fails on this run's input ({first_line(exc)}): export this run again"
            ) from None
        return sentence.astype(np.float64), tokens.astype(np.float64) if with_tokens else None
