"""ONNX export: the padded model and the exported file give the PyTorch model's outputs, for every
model type; predict --backend onnx gives predict's results."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from conftest import collate
from textcls.cli import app
from textcls.config import model_config
from textcls.data import Example, Tokenizer
from textcls.features import Featurizer
from textcls.lexicon_features import Lexicon
from textcls.models import build_model
from textcls.tasks import get_task
from textcls.vocab import Vocabulary

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

from textcls.export import OnnxModel, PaddedModel, export_model, padded_inputs  # noqa: E402

WORDS = "the a film plot was dull but acting really superb and moving good bad not very . ,".split()
REAL = [
    "the film was really superb .",
    "a dull plot , bad acting",
    "good",
    "and the acting was moving but the plot was dull",
]

MODELS = {  # name -> (task, per token, model fields)
    "bow": ("classification", False, {"type": "bow"}),
    "bow-ngrams-chars-cnn": (
        "classification",
        False,
        {"type": "bow", "word_ngrams": 3, "char_ngrams": (2, 3), "char_encoder": "cnn"},
    ),
    "bow-multilabel": ("multilabel", False, {"type": "bow", "word_ngrams": 2}),
    "lstm-attention-char-lstm": (
        "classification",
        False,
        {"type": "lstm", "char_ngrams": (2, 3), "char_encoder": "lstm", "char_hidden": 6},
    ),
    "lstm-mean-2-layers-one-way": (
        "regression",
        False,
        {"type": "lstm", "pooling": "mean", "num_layers": 2, "bidirectional": False},
    ),
    "window-tagger": ("tagging", True, {"type": "bow", "char_ngrams": (1, 3), "char_encoder": "cnn", "window": 2}),
    "lstm-tagger-crf": (
        "tagging",
        True,
        {"type": "lstm", "char_ngrams": (1, 3), "char_encoder": "lstm", "char_hidden": 6, "crf": True},
    ),
    "cnn-chars-char-cnn": (
        "classification",
        False,
        {"type": "cnn", "filters": 5, "filter_widths": [1, 3, 5], "char_ngrams": (2, 3), "char_encoder": "cnn"},
    ),
    "cnn-multilabel": ("multilabel", False, {"type": "cnn", "filters": 4, "filter_widths": [2, 4]}),
    "bow-lexicon-chars-cnn": (
        "classification",
        False,
        {"type": "bow", "word_ngrams": 2, "char_encoder": "cnn", "lexicon_features": ["a.csv", "b.csv"]},
    ),
    "lstm-lexicon": ("classification", False, {"type": "lstm", "lexicon_features": ["a.csv"]}),
    "cnn-lexicon": ("classification", False, {"type": "cnn", "filters": 4, "lexicon_features": ["a.csv"]}),
}
LEXICONS = [  # what model.lexicon_features' files hold, read (the files are never opened here)
    Lexicon("a.csv", {"superb": 1.0, "good": 0.5, "moving": 0.25, "dull": -0.5, "bad": -0.75}),
    Lexicon("b.csv", {"good": 1.0, "bad": -1.0}),
]


def setup(name):
    task, per_token, fields = MODELS[name]
    sizes = {
        "embedding_dim": 8,
        "buckets": 97,
        "char_dim": 4,
        "sparse": False,
        **({} if fields["type"] == "cnn" else {"hidden_dim": 6}),
    }
    cfg = model_config(**sizes, **fields)
    labels = ["A", "B", "C"]
    lexicons = LEXICONS[: len(cfg.lexicon_features)]
    tokenizer, vocab = Tokenizer(whitespace=True, lowercase=False), Vocabulary.build([WORDS])
    fz = Featurizer(get_task(task), cfg, tokenizer, vocab, labels, lexicons)
    torch.manual_seed(0)
    outputs = 1 if task == "regression" else 3
    model = build_model(cfg, get_task(task), fz.num_features, outputs).eval()
    with torch.no_grad():  # biases and padding rows not at their zero start: nothing hides behind a zero
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return fz, model, per_token


def batch_of(fz, sentences):
    return collate(fz.encode_all([Example(s.split(), None, i + 1) for i, s in enumerate(sentences)]), fz.task)


def random_sentences(n, seed):
    """Known words mixed with made-up ones (unknown words, odd case, digits), of every length 1..12."""
    rng = random.Random(seed)
    made_up = lambda: "".join(rng.choice("abcdefgXYZ019-") for _ in range(rng.randint(1, 14)))
    return [
        " ".join(rng.choice(WORDS) if rng.random() < 0.6 else made_up() for _ in range(rng.randint(1, 12)))
        for _ in range(n)
    ]


@pytest.mark.parametrize("name", list(MODELS))
def test_export_matches_pytorch_on_random_and_real_sentences(name, tmp_path):
    fz, model, per_token = setup(name)
    path = tmp_path / "model.onnx"
    export_model(model, batch_of(fz, REAL[:2]), per_token, path)  # traced on 2 rows; used on other sizes
    onnx = OnnxModel(path, model, per_token)
    for sentences in (REAL, random_sentences(40, 1), random_sentences(3, 2)):
        batch = batch_of(fz, sentences)
        with torch.no_grad():
            expected = model(batch)
            padded = PaddedModel(model).scores(
                **{k: torch.from_numpy(v) for k, v in padded_inputs(batch, model).items()}
            )
        got = onnx(batch)
        padded_tokens = padded if per_token else padded[1]
        torch.testing.assert_close(batch.unpad(padded_tokens), expected.flat_tokens, atol=1e-5, rtol=1e-4)
        assert (got.flat_tokens - expected.flat_tokens).abs().max() <= 1e-4
        if not per_token:
            torch.testing.assert_close(padded[0], expected.sentence, atol=1e-5, rtol=1e-4)
            assert (got.sentence - expected.sentence).abs().max() <= 1e-4


FLAT = {  # name -> (task, model fields): the bags of words exported flat
    "bow": ("classification", {"type": "bow"}),
    "bow-3-grams-chars": ("classification", {"type": "bow", "word_ngrams": 3, "char_ngrams": (2, 3)}),
    "bow-multilabel-one-logit": ("multilabel", {"type": "bow", "word_ngrams": 2}),
}


@pytest.mark.parametrize("name", list(FLAT))
def test_the_flat_bag_matches_pytorch_on_random_and_real_sentences(name, tmp_path):
    from textcls.export import export_flat, exports_flat
    from textcls.onnx_bag import OnnxBag

    task, fields = FLAT[name]
    cfg = model_config(embedding_dim=8, buckets=97, sparse=False, **fields)
    fz = Featurizer(
        get_task(task), cfg, Tokenizer(whitespace=True, lowercase=False), Vocabulary.build([WORDS]), ["A", "B"]
    )
    torch.manual_seed(0)
    model = build_model(cfg, get_task(task), fz.num_features, 2 if task == "multilabel" else 1).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    assert exports_flat(model, per_token=False)
    encode = lambda sentences: fz.encode_all([Example(s.split(), None, i + 1) for i, s in enumerate(sentences)])
    path = tmp_path / "model.onnx"
    export_flat(model, encode(REAL[:2]), path)  # traced on 2 rows; used on other sizes
    bag = OnnxBag(path)
    for sentences in (REAL, random_sentences(40, 1), random_sentences(3, 2), ["good"]):
        items = encode(sentences)
        with torch.no_grad():
            expected = model(collate(items, fz.task))
            expected_tokens = expected.flat_tokens
        sentence, tokens = bag.forward(items, with_tokens=True)
        np.testing.assert_allclose(sentence, expected.sentence.numpy(), atol=1e-5, rtol=1e-4)
        np.testing.assert_allclose(tokens, expected_tokens.numpy(), atol=1e-5, rtol=1e-4)


@pytest.fixture(scope="module")
def trained_runs(tmp_path_factory):
    """A bag of words and a BiLSTM tagger, trained briefly through the library."""
    from conftest import NEGATIVE, POSITIVE, _write_splits, small_config_dict, tagging_rows, write_csv
    from textcls.config import config_from_dict
    from textcls.train import train

    root = tmp_path_factory.mktemp("export")
    csvs = _write_splits(root / "s", {"neg": NEGATIVE, "pos": POSITIVE})
    bow = train(
        config_from_dict(
            small_config_dict(csvs, root / "runs", model={"type": "bow", "word_ngrams": 2, "char_ngrams": [2, 4]})
        ),
        out=root / "bow",
    ).run_dir
    tags = {
        s: write_csv(root / f"t_{s}.csv", ["text", "tags"], tagging_rows(n, seed))
        for s, n, seed in (("train", 80, 1), ("valid", 20, 2))
    }
    tagging = small_config_dict(
        tags,
        root / "runs",
        task="tagging",
        data={"label_column": "tags"},
        model={"type": "lstm", "embedding_dim": 8, "hidden_dim": 8, "char_encoder": "cnn"},
    )
    tagger = train(config_from_dict(tagging), out=root / "tagger").run_dir
    return {"bow": bow, "tagger": tagger}


@pytest.mark.parametrize("kind", ["bow", "tagger"])
def test_predict_with_the_onnx_backend_gives_predicts_results(trained_runs, kind):
    run = trained_runs[kind]
    result = CliRunner().invoke(app, ["export", str(run)])
    assert result.exit_code == 0, result.output
    assert (run / "export" / "model.onnx").is_file()
    description = json.loads((run / "export" / "model.json").read_text())
    if kind == "bow":  # the flat bag of words
        assert description["inputs"] == ["ids", "offsets", "ngrams", "word_types", "subwords", "subword_offsets"]
    else:
        assert description["inputs"][:2] == ["ids", "lengths"]
    assert description["labels"] == json.loads((run / "labels.json").read_text())
    texts = (
        ["a good film", "dull , awful plot and lovely acting", "good"]
        if kind == "bow"
        else ["the dog ran", "a cat saw the big dog"]
    )
    outputs = []
    for backend in ("torch", "onnx"):
        out = CliRunner().invoke(app, ["predict", str(run), *texts, "-f", "json", "--backend", backend])
        assert out.exit_code == 0, out.output
        outputs.append([json.loads(line) for line in out.stdout.splitlines()])
    for a, b in zip(*outputs):
        if kind == "bow":
            assert a["label"] == b["label"]
            assert all(abs(a["probabilities"][k] - b["probabilities"][k]) <= 1e-4 for k in a["probabilities"])
            assert np.allclose(a["token_scores"], b["token_scores"], atol=2e-4)
        else:
            assert a["tags"] == b["tags"] and np.allclose(a["probabilities"], b["probabilities"], atol=1e-4)


def test_int8_copy_is_smaller_and_agrees(trained_runs):
    run = trained_runs["bow"]
    assert CliRunner().invoke(app, ["export", str(run), "--quantize", "int8"]).exit_code == 0
    full, small = run / "export" / "model.onnx", run / "export" / "model.int8.onnx"
    assert small.stat().st_size < full.stat().st_size / 3
    texts = ["a good film", "dull , awful plot", "lovely and brilliant", "boring"]
    labels = [
        [
            json.loads(line)["label"]
            for line in CliRunner()
            .invoke(app, ["predict", str(run), *texts, "-f", "json", "--backend", "onnx", "--onnx", str(p)])
            .stdout.splitlines()
        ]
        for p in (full, small)
    ]
    assert labels[0] == labels[1]


def test_missing_export_names_the_command(trained_runs, tmp_path):
    result = CliRunner().invoke(
        app, ["predict", str(trained_runs["bow"]), "good", "--backend", "onnx", "--onnx", str(tmp_path / "x.onnx")]
    )
    assert (
        result.exit_code == 1
        and "make it with `textcls export RUN`" in result.output
        and "Traceback" not in result.output
    )


def test_a_damaged_or_foreign_onnx_file_is_one_line(trained_runs, tmp_path):
    bow, tagger = trained_runs["bow"], trained_runs["tagger"]
    assert CliRunner().invoke(app, ["export", str(bow), "--out", str(tmp_path / "bow.onnx")]).exit_code == 0
    cut = tmp_path / "cut.onnx"
    cut.write_bytes((tmp_path / "bow.onnx").read_bytes()[:1000])
    cases = [
        (bow, cut, "onnxruntime cannot load it"),  # a file cut short
        (tagger, tmp_path / "bow.onnx", ""),
    ]  # another run's model: its inputs, or its tables, do not fit
    for run, onnx, fragment in cases:
        result = CliRunner().invoke(app, ["predict", str(run), "a good film", "--backend", "onnx", "--onnx", str(onnx)])
        assert result.exit_code == 1 and "Traceback" not in result.output, result.output
        lines = [line for line in result.output.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith(f"error: {onnx}") and fragment in lines[0], result.output
