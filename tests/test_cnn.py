"""The CNN sentence model (model.type cnn): its outputs against a hand-written loop, padding and
short sentences, token scores that add up to the logits, and the whole CLI round trip."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import yaml
from typer.testing import CliRunner

from conftest import collate, small_config_dict
from textcls.cli import app
from textcls.config import model_config
from textcls.data import Example, Tokenizer
from textcls.errors import ConfigError
from textcls.features import Featurizer
from textcls.models import build_model
from textcls.tasks import get_task
from textcls.vocab import Vocabulary

WORDS = "a good film the plot was dull but acting really superb".split()


def cnn(outputs: int = 2, task: str = "classification", **fields):
    cfg = model_config(
        **{"type": "cnn", "embedding_dim": 6, "filters": 4, "filter_widths": [2, 3], "dropout": 0.0, **fields}
    )
    fz = Featurizer(
        get_task(task), cfg, Tokenizer(), Vocabulary.build([WORDS]), ["neg", "pos", "mid"][: max(outputs, 2)]
    )
    torch.manual_seed(0)
    return fz, build_model(cfg, get_task(task), fz.num_features, outputs).eval()


def batch_of(fz, *sentences):
    return collate(fz.encode_all([Example(s.split(), None, i + 1) for i, s in enumerate(sentences)]), "classification")


def reference_logits(model, ids: list[int]) -> torch.Tensor:
    """One sentence by hand: each filter's ReLU'd dot product with every window of words (a window
    past a short sentence's end reads zero vectors), the largest per filter, then the head."""
    vectors = model.embedding.weight.detach()[ids].double()  # (L, D)
    pooled = []
    for conv, width in zip(model.convs, model.widths):
        weight, bias = conv.weight.detach().double(), conv.bias.detach().double()  # (F, D, width), (F,)
        padded = torch.cat([vectors, vectors.new_zeros(max(0, width - len(ids)), vectors.shape[1])])
        for f in range(weight.shape[0]):
            best = max(
                float(torch.relu((weight[f] * padded[s : s + width].T).sum() + bias[f]))
                for s in range(max(1, len(ids) - width + 1))
            )
            pooled.append(best)
    head = model.token_head
    return torch.tensor(pooled, dtype=torch.float64) @ head.weight.detach().double().T + head.bias.detach().double()


def test_logits_equal_a_hand_written_loop_for_long_and_short_sentences():
    fz, model = cnn(outputs=3)
    sentences = ["the plot was dull but the acting was really superb", "good film", "superb"]  # 1 word < both widths
    batch = batch_of(fz, *sentences)
    with torch.no_grad():
        logits = model(batch).sentence.double()
    for r, sentence in enumerate(sentences):
        ids = [fz.vocab.stoi.get(w, Vocabulary.unk_id) for w in sentence.split()]
        assert torch.allclose(logits[r], reference_logits(model, ids), atol=1e-5)


def test_a_sentence_scores_the_same_alone_and_beside_longer_ones():
    fz, model = cnn()
    with torch.no_grad():
        alone = model(batch_of(fz, "good film")).sentence
        together = model(batch_of(fz, "the plot was dull but the acting was really superb", "good film")).sentence[1:]
    assert torch.allclose(alone, together, atol=1e-6)  # padding never wins a max


@pytest.mark.parametrize("outputs", [1, 3])
def test_token_scores_add_up_to_the_logits_without_the_bias(outputs):
    fz, model = cnn(outputs=outputs)
    sentences = ["the plot was dull but the acting was really superb", "good film", "superb"]
    with torch.no_grad():
        out = model(batch_of(fz, *sentences))
        tokens, sentence = out.tokens, out.sentence
    assert tokens.shape == (3, 10, outputs)
    assert torch.allclose(tokens.sum(1) + model.token_head.bias, sentence, atol=1e-5)
    assert torch.all(tokens[1, 2:] == 0) and torch.all(tokens[2, 1:] == 0)  # nothing on padding


def test_token_scores_name_the_words_of_the_winning_window():
    """One filter of width 2 whose strongest window is words 2-3: only those two tokens score, half each."""
    fz, model = cnn(outputs=1, filter_widths=[2], filters=1)
    with torch.no_grad():
        out = model(batch_of(fz, "the plot was dull but"))
        conv = torch.relu(
            model.convs[0](
                model.embedding.weight[[fz.vocab.stoi[w] for w in "the plot was dull but".split()]].T.unsqueeze(0)
            )
        )[0, 0]  # (4,) the filter on each window
        start = int(conv.argmax())
        expected = torch.zeros(5)
        expected[start : start + 2] = float(conv.max() * model.token_head.weight[0, 0]) / 2
    assert torch.allclose(out.tokens[0, :, 0], expected, atol=1e-6)


def test_token_scores_carry_gradients_to_the_filters_for_word_targets():
    fz, model = cnn(outputs=1)
    model.train()
    out = model(batch_of(fz, "the plot was dull but the acting was really superb"))
    out.tokens[0, 3, 0].backward()  # the rationale loss reads single tokens' scores
    assert model.convs[0].weight.grad.abs().sum() > 0 and model.token_head.weight.grad.abs().sum() > 0


def test_the_cnn_does_not_tag():
    with pytest.raises(ConfigError, match="does not tag"):
        build_model(model_config(type="cnn"), get_task("tagging"), 10, 3)


def test_a_widths_list_must_hold_widths():
    for bad in ([], [0, 3]):
        with pytest.raises(ConfigError, match="filter_widths"):
            model_config(type="cnn", filter_widths=bad)


def invoke(*args, input=None):
    result = CliRunner().invoke(app, [str(a) for a in args], input=input)
    assert result.exit_code == 0 and "Traceback" not in result.output, result.output
    return result


def test_train_eval_predict_with_word_scores_through_the_cli(tmp_path, sentiment_csvs):
    raw = small_config_dict(
        sentiment_csvs,
        tmp_path / "runs",
        optim={"name": "adamw", "lr": 0.01},
        train={"epochs": 6, "batch_size": 16, "seed": 0},
    )
    raw["model"] = {"type": "cnn", "embedding_dim": 16, "filters": 8, "filter_widths": [2, 3], "dropout": 0.0}
    config = tmp_path / "cnn.yaml"
    config.write_text(yaml.safe_dump(raw))
    run = tmp_path / "run"
    invoke("train", "--config", config, "--out", run, "-q")
    metrics = json.loads(invoke("eval", run, sentiment_csvs["test"], "-f", "json").stdout)
    assert metrics["accuracy"] >= 0.9  # the synthetic words decide the class
    (result,) = [
        json.loads(line) for line in invoke("predict", run, "a wonderful film", "-f", "json").stdout.splitlines()
    ]
    assert result["label"] == "pos" and len(result["token_scores"]) == 3
    assert int(np.argmax(result["token_scores"])) == 1  # the evidence is the word "wonderful"


def test_export_through_the_cli_predicts_as_pytorch_does(tmp_path, sentiment_csvs):
    pytest.importorskip("onnxruntime")
    raw = small_config_dict(sentiment_csvs, tmp_path / "runs", train={"epochs": 2, "batch_size": 16, "seed": 0})
    raw["model"] = {"type": "cnn", "embedding_dim": 8, "filters": 4, "filter_widths": [1, 2, 4], "char_ngrams": [2, 3]}
    config = tmp_path / "cnn.yaml"
    config.write_text(yaml.safe_dump(raw))
    run = tmp_path / "run"
    invoke("train", "--config", config, "--out", run, "-q")
    invoke("export", run)
    texts = "a wonderful film\ngood\nthe plot was dull and the acting was tedious but the story was charming\n"
    results = {
        backend: [
            json.loads(line)
            for line in invoke("predict", run, "-", "-f", "json", "--backend", backend, input=texts).stdout.splitlines()
        ]
        for backend in ("torch", "onnx")
    }
    for torch_result, onnx_result in zip(results["torch"], results["onnx"]):
        assert torch_result["label"] == onnx_result["label"]
        assert np.allclose(
            list(torch_result["probabilities"].values()), list(onnx_result["probabilities"].values()), atol=1e-4
        )
        assert np.allclose(torch_result["token_scores"], onnx_result["token_scores"], atol=1e-4)


def test_word_targets_train_the_cnn_through_its_token_scores(tmp_path, sentiment_csvs):
    """A lexicon's words as targets with rationale.weight 1: the rationale loss is logged and falls,
    and the words it names end up scored for their class."""
    from conftest import NEGATIVE, POSITIVE

    lexicon = tmp_path / "lexicon.csv"
    lexicon.write_text(
        "word,label\n" + "".join(f"{w},pos\n" for w in POSITIVE) + "".join(f"{w},neg\n" for w in NEGATIVE)
    )
    raw = small_config_dict(
        sentiment_csvs,
        tmp_path / "runs",
        train={"epochs": 6, "batch_size": 16, "seed": 0},
        loss={"rationale": {"weight": 1.0}},
    )
    raw["data"]["lexicon"] = str(lexicon)
    raw["model"] = {"type": "cnn", "embedding_dim": 16, "filters": 8, "filter_widths": [1, 2], "dropout": 0.0}
    config = tmp_path / "cnn.yaml"
    config.write_text(yaml.safe_dump(raw))
    run = tmp_path / "run"
    invoke("train", "--config", config, "--out", run, "-q")
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert records[-1]["train_rationale_loss"] < records[0]["train_rationale_loss"]
    (result,) = [
        json.loads(line) for line in invoke("predict", run, "a terrible film", "-f", "json").stdout.splitlines()
    ]
    assert result["label"] == "neg" and min(result["token_scores"]) == result["token_scores"][1]
