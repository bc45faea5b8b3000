"""A model type and a loss are each one definition plus one registry line: a toy model type and a
toy loss, defined in this file and nowhere in the package, train, evaluate and predict through the
CLI, and their options are validated as the shipped ones are."""

from __future__ import annotations

import json
from typing import Literal

import pytest
import torch
import yaml
from pydantic import Field
from typer.testing import CliRunner

from conftest import small_config_dict
from textcls.cli import app
from textcls.losses import LOSSES
from textcls.losses.spec import LossOptions
from textcls.models import MODEL_TYPES
from textcls.models.base import ModelOutput, TextModel
from textcls.models.spec import ModelBase


class MaxNetwork(TextModel):
    """Toy network: each token's score from its vector; a sentence's score is its strongest token's."""

    def __init__(self, cfg, num_features, outputs, log_softmax=False):
        super().__init__(cfg, num_features, log_softmax)
        self.token_head = torch.nn.Linear(self.input_dim, outputs)

    def scores(self, batch):
        sentence, tokens = self.padded_scores(batch.pad(self.embed(batch)), batch.lengths, batch.mask, {})
        return ModelOutput(sentence, tokens, batch)

    def padded_scores(self, x, lengths, mask, inputs):  # (what the ONNX export runs)
        tokens = self.token_head(x).masked_fill(~mask.unsqueeze(-1), 0.0)  # (B, T, C)
        return tokens.masked_fill(~mask.unsqueeze(-1), float("-inf")).amax(1), tokens


class MaxConfig(ModelBase):
    type: Literal["max"] = "max"
    tune_space = {"optim.lr": [0.01, 0.05]}

    def build(self, per_token, num_features, outputs, log_softmax):
        return MaxNetwork(self, num_features, outputs, log_softmax)


class Brier(LossOptions):
    """Toy loss: scale * mean squared distance between the class probabilities and the one-hot label."""

    name: Literal["brier"] = "brier"
    scale: float = Field(1.0, gt=0)
    tasks = ("classification",)

    def build(self, counts, num_classes):
        def loss(logits, y):
            one_hot = torch.nn.functional.one_hot(y, logits.shape[-1]).to(logits.dtype)
            return self.scale * ((logits.softmax(-1) - one_hot) ** 2).sum(-1).mean()

        return loss


@pytest.fixture
def toy_components(monkeypatch):
    monkeypatch.setitem(MODEL_TYPES, "max", MaxConfig)  # the one registry line of the model type
    monkeypatch.setitem(LOSSES, "brier", Brier)  # and of the loss


def invoke(*args, input=None):
    return CliRunner().invoke(app, [str(a) for a in args], input=input)


def ok(result):
    assert result.exit_code == 0 and "Traceback" not in result.output, result.output
    return result


def write_config(tmp_path, sentiment_csvs, model: dict, loss: dict):
    raw = small_config_dict(
        sentiment_csvs,
        tmp_path / "runs",
        optim={"name": "adamw", "lr": 0.05},
        train={"epochs": 5, "batch_size": 16, "seed": 0},
    )
    raw["model"], raw["loss"] = model, loss
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_a_toy_model_and_a_toy_loss_train_evaluate_and_predict_through_the_cli(
    toy_components, tmp_path, sentiment_csvs
):
    config = write_config(
        tmp_path, sentiment_csvs, {"type": "max", "embedding_dim": 8}, {"name": "brier", "scale": 2.0}
    )
    run = tmp_path / "run"
    ok(invoke("train", "--config", config, "--out", run, "-q"))
    model_json = json.loads((run / "model.json").read_text())
    assert model_json["loss"] == "brier" and model_json["outputs"] == 2  # not one logit: brier reads two scores
    metrics = json.loads(ok(invoke("eval", run, sentiment_csvs["test"], "-f", "json")).stdout)
    assert metrics["accuracy"] >= 0.9  # the synthetic words decide the class
    (result,) = [
        json.loads(line) for line in ok(invoke("predict", run, "a wonderful film", "-f", "json")).stdout.splitlines()
    ]
    assert result["label"] == "pos" and len(result["token_scores"]) == 3
    assert max(range(3), key=lambda i: result["token_scores"][i]) == 1  # "wonderful" is the evidence
    pytest.importorskip("onnxruntime")
    ok(invoke("export", run))  # its padded forward, traced
    texts = "a wonderful film\nbad\nthe plot was dull but the acting was charming\n"
    torch_lines, onnx_lines = [
        [
            json.loads(line)
            for line in ok(invoke("predict", run, "-", "-f", "json", *backend, input=texts)).stdout.splitlines()
        ]
        for backend in ([], ["--backend", "onnx"])
    ]
    for a, b in zip(torch_lines, onnx_lines):
        assert a["label"] == b["label"]
        assert all(abs(x - y) < 1e-4 for x, y in zip(a["token_scores"], b["token_scores"]))
        assert all(abs(a["probabilities"][k] - b["probabilities"][k]) < 1e-4 for k in a["probabilities"])


def test_the_toy_components_options_are_checked_like_the_shipped_ones(toy_components, tmp_path, sentiment_csvs):
    for model, loss, fragment in [
        ({"type": "max", "hidden_dim": 4}, {"name": "brier"}, "model type 'max' does not read 'model.hidden_dim'"),
        ({"type": "max"}, {"name": "brier", "scale": -1}, "loss.scale"),
        (
            {"type": "max"},
            {"name": "ce", "scale": 3.0},
            "loss.scale does not apply to loss 'ce' (it is read by: brier)",
        ),
        ({"type": "bow"}, {"name": "brier"}, None),  # a shipped model with the toy loss: fine
    ]:
        result = invoke(
            "train",
            "--config",
            write_config(tmp_path, sentiment_csvs, model, loss),
            "--out",
            tmp_path / "r",
            "-q",
            "--overwrite",
            "--set",
            "train.epochs=1",
        )
        if fragment is None:
            ok(result)
        else:
            assert result.exit_code == 1 and fragment in result.output and "Traceback" not in result.output, (
                result.output
            )


class SumNetwork(TextModel):
    """A network with no padded forward: it trains, but cannot be exported."""

    def __init__(self, cfg, num_features, outputs, log_softmax=False):
        super().__init__(cfg, num_features, log_softmax)
        self.token_head = torch.nn.Linear(self.input_dim, outputs)

    def scores(self, batch):
        tokens = self.token_head(self.embed(batch))  # (N, C)
        sentence = tokens.new_zeros(batch.size, tokens.shape[1]).index_add(0, batch.row_of, tokens)
        return ModelOutput(sentence, batch=batch, flat_tokens=lambda: tokens)


class SumConfig(ModelBase):
    type: Literal["sum"] = "sum"

    def build(self, per_token, num_features, outputs, log_softmax):
        return SumNetwork(self, num_features, outputs, log_softmax)


def test_a_network_without_a_padded_forward_is_refused_by_export_in_one_line(tmp_path, sentiment_csvs, monkeypatch):
    pytest.importorskip("onnx")
    monkeypatch.setitem(MODEL_TYPES, "sum", SumConfig)
    config = write_config(tmp_path, sentiment_csvs, {"type": "sum", "embedding_dim": 8}, {"name": "ce"})
    run = tmp_path / "run"
    ok(invoke("train", "--config", config, "--out", run, "-q", "--set", "train.epochs=1"))
    export = invoke("export", run)
    assert export.exit_code == 1 and "SumNetwork has no padded forward for ONNX" in export.output
    assert not (run / "export" / "model.onnx").exists()


def test_a_toy_loss_refuses_a_task_it_does_not_serve(toy_components, tmp_path):
    rows = "text,label\n" + "".join(f"good film {i},{i % 3}.5\n" for i in range(30))
    (tmp_path / "r.csv").write_text(rows)
    config = tmp_path / "c.yaml"
    config.write_text(
        yaml.safe_dump(
            {"task": "regression", "data": {"train": str(tmp_path / "r.csv"), "valid": 0.2}, "loss": {"name": "brier"}}
        )
    )
    result = invoke("train", "--config", config, "--out", tmp_path / "run", "-q")
    assert result.exit_code == 1 and "loss.name 'brier' does not fit task 'regression'" in result.output


def test_after_the_registration_is_undone_the_names_are_unknown_again(tmp_path, sentiment_csvs):
    config = write_config(tmp_path, sentiment_csvs, {"type": "max"}, {"name": "auto"})
    result = invoke("train", "--config", config, "--out", tmp_path / "run", "-q")
    assert result.exit_code == 1 and "invalid value 'max' for 'model.type'" in result.output
