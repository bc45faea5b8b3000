"""Export a run's model to ONNX, and run the exported file with onnxruntime.

The bag of words for sentences is exported as a `FlatBag`: flat token ids and row offsets, a
gather and a segment sum (as EmbeddingBag reads them), in score space; `predict --backend onnx`
runs it without torch (textcls/onnx_bag.py). Every other model reads padded grids instead of the
flat batches and packed sequences the PyTorch models use: `PaddedModel` makes each token's vector on the grid
and hands it to the model's own `padded_scores` (each model type writes its forward for the grid
beside its training forward; parity tests hold the two together). Inputs, B rows of up to T tokens:

    ids       (B, T) int64   word ids from the run's vocab.json; 0 on padding, 1 unknown
    lengths   (B,)   int64   tokens per row
    subwords  (B, T, S) int64  hashed character n-gram ids of each token, 0 padding (model.char_ngrams)
    ngrams    (B, T, K) int64  hashed word n-gram ids starting at each token, 0 none (bag of words, word_ngrams > 1)
    shapes    (B, T) int64   word-shape ids (taggers with model.shape)
    chars     (B, T, L) int64  character ids (model.char_encoder)
    lexicon   (B, T, K) float32  lexicon valences (model.lexicon_features)

Outputs: `sentence` (B, C) logits (sentence models) and `tokens` (B, T, C) token scores (tag scores
for taggers). What turns text into these inputs (vocabulary, labels, tokenizer, hashing) is written
beside the model as `<name>.json`; `textcls predict --backend onnx` uses it through the run's own
featurizer.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from textcls.batching import Batch
from textcls.data import Example
from textcls.errors import RunError, first_line
from textcls.files import atomic_write, write_json
from textcls.models.base import ModelOutput, TextModel
from textcls.tasks import TASKS

INPUTS = ("ids", "lengths", "subwords", "ngrams", "shapes", "chars", "lexicon")


class PaddedModel(nn.Module):
    """A `TextModel` on padded inputs (see the module's docstring): the tokens' vectors on the grid,
    then the model's own `padded_scores`."""

    def __init__(self, model: TextModel, inputs: list[str] = INPUTS):
        super().__init__()
        if type(model).padded_scores is TextModel.padded_scores:
            raise RunError(f"export: {type(model).__name__} has no padded forward for ONNX (padded_scores)")
        self.model, self.inputs = model, list(inputs)  # the inputs `forward` takes, in that order

    def word_vectors(self, ids, subwords):
        """(B, T, D) each token's vector: its own, averaged with its character n-grams'."""
        weight = self.model.embedding.weight
        x = F.embedding(ids, weight) * (ids != 0).unsqueeze(-1)  # padding masked, whatever row 0 holds
        if subwords is not None:
            present = (subwords != 0).unsqueeze(-1).to(x.dtype)  # (B, T, S, 1)
            x = (x + (F.embedding(subwords, weight) * present).sum(2)) / (1 + present.sum(2))
        return x

    def forward(self, *args):
        return self.scores(**dict(zip(self.inputs, args)))

    def scores(self, ids, lengths, subwords=None, ngrams=None, shapes=None, chars=None, lexicon=None):
        model = self.model
        x = self.word_vectors(ids, subwords)  # (B, T, W): the parts `embed` joins, in its order
        if chars is not None:
            x = torch.cat([x, model.char_encoder.padded(chars)], dim=-1)
        if shapes is not None:
            x = torch.cat([x, model.shape_embedding(shapes)], dim=-1)
        if lexicon is not None:
            x = torch.cat([x, lexicon.to(x.dtype)], dim=-1)
        mask = torch.arange(ids.shape[1], device=ids.device).unsqueeze(0) < lengths.unsqueeze(1)
        x = x * mask.unsqueeze(-1)
        sentence, tokens = model.padded_scores(x, lengths, mask, {"ids": ids, "ngrams": ngrams})
        if model.log_softmax:
            if sentence is not None:
                sentence = F.log_softmax(sentence, dim=-1)
            else:
                tokens = F.log_softmax(tokens, dim=-1)
        return (sentence, tokens) if sentence is not None else tokens


class FlatBag(nn.Module):
    """The bag of words (sentences, without a character encoder) on flat inputs, as EmbeddingBag
    reads them: a gather and a segment sum per row, no padded grid. Inputs, B rows of N tokens in all:

        ids              (N,)     int64  word ids, row after row
        offsets          (B + 1,) int64  where each row starts in `ids`, then N
        ngrams           (N, K)   int64  hashed word n-gram ids starting at each token, 0 none (word_ngrams > 1)
        word_types       (N,)     int64  each token's entry in the table of distinct words (char_ngrams)
        subwords         (M,)     int64  the distinct words' hashed character n-gram ids, word after word
        subword_offsets  (U + 1,) int64  where each distinct word's n-grams start in `subwords`, then M

    It computes in score space, as numpy_bag.NumpyBag does: the file holds every feature's scores
    S = E Wᵀ (F × C numbers, where E is F × D), not the vectors."""

    def __init__(self, model: TextModel):
        super().__init__()
        D = model.embedding.embedding_dim
        with torch.no_grad():
            scores = model.embedding.weight.double() @ model.token_head.weight[:, :D].double().T
        self.register_buffer("scores", scores.float())  # (F, C)
        self.register_buffer("bias", model.bias.detach().clone())  # (C,)

    def forward(self, ids, offsets, ngrams=None, word_types=None, subwords=None, subword_offsets=None):
        S = self.scores
        C = S.shape[1]
        rows = segments(offsets, ids.shape[0])  # (N,) each token's row
        words = S[ids]  # (N, C)
        if subwords is not None:  # a word's score: the mean of its own and its character n-grams'
            counts = (subword_offsets[1:] - subword_offsets[:-1]).to(S.dtype)  # (U,)
            owner = segments(subword_offsets, subwords.shape[0])  # (M,) each n-gram's word
            sums = (counts.unsqueeze(1) * 0).expand(-1, C).scatter_add(0, owner.unsqueeze(1).expand(-1, C), S[subwords])
            words = (words + sums[word_types]) / (1 + counts[word_types]).unsqueeze(1)
        units = (offsets[1:] - offsets[:-1]).to(S.dtype)  # (B,) words + n-grams averaged over
        zeros = (units.unsqueeze(1) * 0).expand(-1, C)  # (B, C)
        index = rows.unsqueeze(1).expand(-1, C)
        total = zeros.scatter_add(0, index, words)
        tokens = words
        if ngrams is not None:
            present = (ngrams != 0).to(S.dtype)  # (N, K): an n-gram never runs past its row
            grams = S[ngrams] * present.unsqueeze(-1)  # (N, K, C)
            total = total + zeros.scatter_add(0, index, grams.sum(1))
            units = units + (units * 0).scatter_add(0, rows, present.sum(1))
            for k in range(ngrams.shape[1]):
                n = k + 2
                share = grams[:, k] / n  # each of its n words gets 1/n of an n-gram's score
                for offset in range(n):
                    tokens = tokens + F.pad(share, (0, 0, offset, 0))[: share.shape[0]]
        return total / units.unsqueeze(1) + self.bias, tokens


def segments(offsets: torch.Tensor, n: int) -> torch.Tensor:
    """(n,) which segment each of n positions is in, from (segments + 1,) offsets (empty segments
    allowed): a one where each segment after the first starts, summed."""
    inner = offsets[1:-1]
    starts = torch.zeros(n + 1, dtype=torch.int64).scatter_add(0, inner, torch.ones_like(inner))
    return starts[:n].cumsum(0)


def exports_flat(model: TextModel, per_token: bool) -> bool:
    """Whether the model is exported as a `FlatBag` (the bag of words for sentences, no character
    encoder, plain scores)."""
    from textcls.models.bow.bag import BagOfWords

    return (
        isinstance(model, BagOfWords)
        and not per_token
        and model.char_encoder is None
        and not model.lexicon_inputs
        and not model.log_softmax
    )


def padded_inputs(batch: Batch, model: TextModel) -> dict[str, np.ndarray]:
    """The padded grids of a flat `Batch` that the exported model reads."""
    out = {"ids": batch.tokens.numpy(), "lengths": batch.lengths.numpy().astype(np.int64)}
    if batch.subwords is not None:
        counts = np.diff(np.append(batch.subword_offsets.numpy(), batch.subwords.numel()))
        grid = np.zeros((batch.num_tokens, max(int(counts.max(initial=0)), 1)), dtype=np.int64)
        grid[
            np.repeat(np.arange(batch.num_tokens), counts),
            np.arange(counts.sum()) - np.repeat(batch.subword_offsets.numpy(), counts),
        ] = batch.subwords.numpy()
        out["subwords"] = batch.pad(torch.from_numpy(grid)).numpy()
    reads = model.padded_inputs()
    if batch.ngrams is not None and "ngrams" in reads:
        out["ngrams"] = batch.pad(batch.ngrams).numpy()
    if batch.shapes is not None and "shapes" in reads:
        out["shapes"] = batch.pad(batch.shapes).numpy()
    if batch.chars is not None and "chars" in reads:
        out["chars"] = batch.pad(batch.chars[batch.char_index]).numpy()
    if batch.lexicon is not None and "lexicon" in reads:
        out["lexicon"] = batch.pad(batch.lexicon).numpy()
    return out


def export_onnx(run, out: str | Path | None = None, example: Batch | None = None) -> Path:
    """Writes `run`'s model as ONNX (default RUN/export/model.onnx) with the inputs' description beside it."""
    import importlib.util

    if importlib.util.find_spec("onnx") is None:  # torch's exporter needs it
        raise RunError("textcls export needs onnx and onnxscript: pip install 'textcls[export]'")
    if not run.task.exports:
        exported = ", ".join(name for name, task in TASKS.items() if task.exports)
        raise RunError(f"export: task '{run.task.name}' is not exported ({exported} are)")
    out = Path(out) if out is not None else run.dir / "export" / "model.onnx"
    if example is None:
        example = Batch.of(
            run.featurizer.encode_all(
                [Example("a short example .".split(), None), Example("and another one".split(), None)]
            )
        )
    if exports_flat(run.model, run.task.per_token):
        items = run.featurizer.encode_all(
            [Example("a short example .".split(), None), Example("and another one".split(), None)]
        )
        names, outputs = export_flat(run.model, items, out)
    else:
        names, outputs = export_model(run.model, example, run.task.per_token, out)
    description = {
        "inputs": names,
        "outputs": outputs,
        "labels": run.labels,
        "task": run.task.name,
        "run": str(run.dir),
        "tokenizer": run.config.data.model_dump(include={"lowercase", "max_length"}),
        "model": run.config.model.model_dump(
            include={"type", "word_ngrams", "char_ngrams", "buckets", "char_encoder", "char_max_length", "shape"}
        ),
        "vocabulary": "vocab.json of the run (id = position)",
    }
    write_json(out.with_suffix(".json"), description)
    return out


FLAT_AXES = {
    "ids": {0: "tokens"},
    "offsets": {0: "rows_and_one"},
    "ngrams": {0: "tokens"},
    "word_types": {0: "tokens"},
    "subwords": {0: "subword_ids"},
    "subword_offsets": {0: "words_and_one"},
    "sentence": {0: "rows"},
    "tokens": {0: "tokens"},
}


def export_flat(model: TextModel, items, out: Path) -> tuple[list[str], list[str]]:
    """Writes the bag of words as a `FlatBag` to `out` (traced on `items`, an Encoded of a few
    rows); returns the input and output names."""

    from textcls.onnx_bag import flat_inputs

    inputs = flat_inputs(items)
    names, outputs = list(inputs), ["sentence", "tokens"]
    wrapper = FlatBag(model.cpu().eval()).eval()

    write_onnx(ByName(wrapper, names), inputs, outputs, FLAT_AXES, out)
    return names, outputs


class ByName(nn.Module):
    """`module` called with its inputs named `names`, in that order (the exporter passes them by position)."""

    def __init__(self, module: nn.Module, names: list[str]):
        super().__init__()
        self.module, self.names = module, names

    def forward(self, *args):
        return self.module(**dict(zip(self.names, args)))


AXES = {
    "ids": {0: "batch", 1: "length"},
    "lengths": {0: "batch"},
    "subwords": {0: "batch", 1: "length", 2: "subwords"},
    "ngrams": {0: "batch", 1: "length"},
    "shapes": {0: "batch", 1: "length"},
    "chars": {0: "batch", 1: "length", 2: "characters"},
    "lexicon": {0: "batch", 1: "length"},
    "sentence": {0: "batch"},
    "tokens": {0: "batch", 1: "length"},
}  # every size may change from call to call


def export_model(model: TextModel, example: Batch, per_token: bool, out: Path) -> tuple[list[str], list[str]]:
    """Writes `model` as ONNX to `out` (traced on `example`, a batch of its inputs); returns the
    input and output names."""

    model = model.cpu().eval()
    inputs = padded_inputs(example, model)
    names = list(inputs)
    outputs = ["tokens"] if per_token else ["sentence", "tokens"]
    wrapper = PaddedModel(model, names).eval()

    write_onnx(wrapper, inputs, outputs, AXES, out)
    return names, outputs


def write_onnx(module: nn.Module, inputs: dict[str, np.ndarray], outputs: list[str], axes: dict, out: Path) -> None:
    """`module` traced on `inputs` (in their order) and written to `out` as ONNX, whole or not at all,
    with the dynamic `axes` of its inputs and outputs."""
    import warnings

    names = list(inputs)

    def write(path: Path) -> None:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")  # the tracer's notes on shapes read as Python numbers: they stay symbolic
            torch.onnx.export(
                module,
                tuple(torch.from_numpy(inputs[n]) for n in names),
                str(path),
                input_names=names,
                output_names=outputs,
                dynamic_axes={k: v for k, v in axes.items() if k in names + outputs},
                opset_version=17,
                dynamo=False,
            )

    atomic_write(out, write)


class OnnxModel:
    """An exported model behind the interface `predict_items` calls: batch -> ModelOutput."""

    def __init__(self, path: str | Path, model: TextModel, per_token: bool):
        try:
            import onnxruntime
        except ImportError:
            raise RunError("--backend onnx needs onnxruntime: pip install 'textcls[export]'") from None
        path = Path(path)
        if not path.is_file():
            raise RunError(f"{path}: no exported model (make it with `textcls export RUN`)")
        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3
        try:
            self.session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime's own error types: a damaged or foreign file
            raise RunError(f"{path}: onnxruntime cannot load it ({first_line(exc)}): export it again") from None
        self.names = [i.name for i in self.session.get_inputs()]
        self.model, self.per_token, self.path = model, per_token, path

    def eval(self):
        return self

    def __call__(self, batch: Batch) -> ModelOutput:
        inputs = padded_inputs(batch, self.model)
        missing = [n for n in self.names if n not in inputs]
        if missing:
            raise RunError(
                f"{self.path}: the exported model reads {missing}, which this run's inputs lack: export this run again"
            )
        try:
            results = self.session.run(None, {n: inputs[n] for n in self.names})
        except Exception as exc:  # e.g. a model exported from another run: ids beyond its tables
            raise RunError(
                f"{self.path}: the exported model fails on this run's input ({first_line(exc)}): export this run again"
            ) from None
        if self.per_token:
            return ModelOutput(None, torch.from_numpy(results[0]), batch, crf=getattr(self.model, "crf", None))
        return ModelOutput(torch.from_numpy(results[0]), torch.from_numpy(results[1]), batch)


def quantize_int8(path: str | Path) -> Path:
    """A dynamically quantised copy of an exported model (int8 weights: embedding tables, linear and
    LSTM layers) beside it, `<name>.int8.onnx`, with the same description."""
    try:
        from onnxruntime.quantization import QuantType, quantize_dynamic
    except ImportError:
        raise RunError("--quantize needs onnxruntime: pip install 'textcls[export]'") from None
    path = Path(path)
    out = path.with_name(path.stem + ".int8.onnx")
    import logging

    logging.getLogger().setLevel(logging.ERROR)  # its advice to pre-process applies to image models
    atomic_write(
        out,
        lambda p: quantize_dynamic(
            str(path), str(p), weight_type=QuantType.QInt8, op_types_to_quantize=["Gather", "MatMul", "Gemm", "LSTM"]
        ),
    )
    description = path.with_suffix(".json")
    if description.is_file():
        atomic_write(out.with_suffix(".json"), lambda p: shutil.copyfile(description, p))
    return out
