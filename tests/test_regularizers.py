"""Regularisers: activation_l1 (forward hooks) and weight_l1 / weight_l2 (parameter norms).

Values are recomputed without the hooks (calling the layers, or the whole LSTM row by row); the
hooks' life cycle is checked during and after a real training run; gradients are compared with and
without a regulariser; and every regulariser shows up in metrics.jsonl.
"""

from __future__ import annotations

import copy
import json
from collections import Counter

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

import textcls.train as train_module
import textcls.trainer as trainer_module
from conftest import checkpoint_weights, collate
from textcls.config import LossConfig, RegularizerConfig, model_config
from textcls.encoded import EncodedRow as Encoded
from textcls.errors import ConfigError
from textcls.losses import LOSSES
from textcls.losses.objective import build_objective
from textcls.losses.regularizers import ActivationL1, WeightNorm
from textcls.models import build_model
from textcls.tasks import get_task
from textcls.train import train

torch.set_num_threads(1)

VOCAB, BUCKETS = 30, 20


def reg_cfg(name: str, targets: list[str], weight: float = 0.1) -> RegularizerConfig:
    return RegularizerConfig(name=name, weight=weight, targets=targets)


def objective_for(model, regularizers: list[RegularizerConfig], task="classification", loss="ce", classes=2):
    cfg = LossConfig(name=loss, regularizers=regularizers)
    return build_objective(cfg, get_task(task), LOSSES[loss](), classes, Counter(), Counter(), model)


def sentence_items(lengths=(5, 2, 4, 1, 3), labels=(0, 1, 1, 0, 1), ngrams: bool = False, seed=0):
    rng = np.random.RandomState(seed)
    items = []
    for n, y in zip(lengths, labels):
        item = Encoded(rng.randint(2, VOCAB, size=n).astype(np.int64), y)
        if ngrams:  # one bigram id per start position, none at the last word
            grams = np.zeros((n, 1), dtype=np.int64)
            grams[: n - 1, 0] = rng.randint(VOCAB, VOCAB + BUCKETS, size=n - 1)
            item.ngrams = grams
        items.append(item)
    return items


def model(model_type="bow", task="classification", outputs=2, **cfg):
    torch.manual_seed(0)
    settings = {"type": model_type, "embedding_dim": 8, "hidden_dim": 6, **cfg}
    return build_model(model_config(**settings), get_task(task), VOCAB + BUCKETS, outputs)


# --- activation_l1 values -------------------------------------------------------------------------------


def test_activation_l1_on_bow_token_head_counts_both_calls():
    """With word_ngrams 2 the head scores the words and then the bigrams: both outputs count."""
    net = model("bow", word_ngrams=2, buckets=BUCKETS)
    batch = collate(sentence_items(ngrams=True), "classification")
    objective = objective_for(net, [reg_cfg("activation_l1", ["token_head"], weight=0.5)])
    objective.attach()
    try:
        total, parts = objective(net(batch), batch)
        reg = objective.regularizers[0][2]
        assert len(reg.captured) == 2
    finally:
        objective.detach()
    E, W = net.embedding.weight.detach(), net.token_head.weight.detach()
    words = (E[batch.ids] @ W.T).abs().mean()  # (N, C): real tokens only
    grams = (E[batch.ngrams] @ W.T).abs().mean()  # (N, K, C)
    assert float(parts["activation_l1"]) == pytest.approx(float(words + grams), rel=1e-6)
    assert float(total.detach()) == pytest.approx(float(parts["sentence_loss"]) + 0.5 * float(words + grams), rel=1e-6)


def test_activation_l1_on_bow_without_ngrams_is_one_call():
    net = model("bow")
    batch = collate(sentence_items(), "classification")
    objective = objective_for(net, [reg_cfg("activation_l1", ["token_head"])])
    objective.attach()
    _, parts = objective(net(batch), batch)
    objective.detach()
    E, W = net.embedding.weight.detach(), net.token_head.weight.detach()
    assert float(parts["activation_l1"]) == pytest.approx(float((E[batch.ids] @ W.T).abs().mean()), rel=1e-6)


def test_activation_l1_on_lstm_encoder_uses_real_tokens_only():
    """Reference: the same LSTM run on each sentence alone, unpadded; mean |h| over all real tokens."""
    net = model("lstm", hidden_dim=5)
    items = sentence_items(lengths=(6, 2, 4, 1, 3))
    batch = collate(items, "classification")
    objective = objective_for(net, [reg_cfg("activation_l1", ["encoder"])])
    objective.attach()
    try:
        _, parts = objective(net(batch), batch)
    finally:
        objective.detach()
    with torch.no_grad():
        states = [net.encoder(net.embedding(torch.from_numpy(x.ids))[None])[0][0] for x in items]  # (L_i, 2H)
    real = torch.cat(states)
    assert real.shape == (16, 10)
    assert float(parts["activation_l1"]) == pytest.approx(float(real.abs().mean()), rel=1e-5)
    padded_mean = real.abs().sum() / (len(items) * 6 * 10)  # what averaging over padding as well would give
    assert float(parts["activation_l1"]) != pytest.approx(float(padded_mean), rel=1e-2)


def test_activation_l1_gradient_reaches_the_module():
    net = model("bow")
    batch = collate(sentence_items(), "classification")
    grads = []
    for weight in (0.0, 1.0):
        net.zero_grad()
        objective = objective_for(net, [reg_cfg("activation_l1", ["token_head"], weight=weight)])
        objective.attach()
        total, _ = objective(net(batch), batch)
        total.backward()
        objective.detach()
        grads.append(net.token_head.weight.grad.clone())
    E, W = net.embedding.weight.detach(), net.token_head.weight.detach().clone().requires_grad_(True)
    (E[batch.ids] @ W.T).abs().mean().backward()
    assert torch.allclose(grads[1] - grads[0], W.grad, atol=1e-6)


def test_activation_l1_without_a_forward_pass_is_a_config_error():
    net = model("bow")
    reg = ActivationL1(reg_cfg("activation_l1", ["token_head"]), net)
    reg.attach()
    try:
        with pytest.raises(ConfigError, match="token_head produced no output"):
            reg.value()
    finally:
        reg.detach()


# --- hooks: attach, clear, detach -----------------------------------------------------------------------


def test_clear_drops_tensors_and_detach_removes_hooks():
    net = model("lstm")
    batch = collate(sentence_items(), "classification")
    objective = objective_for(net, [reg_cfg("activation_l1", ["encoder", "token_head"])])
    reg = objective.regularizers[0][2]
    assert not net.encoder._forward_hooks and not net.token_head._forward_hooks
    objective.attach()
    assert len(net.encoder._forward_hooks) == 1 and len(net.token_head._forward_hooks) == 1
    for _ in range(3):
        objective(net(batch), batch)
        assert len(reg.captured) == 2  # one output per module per step, nothing left over
        objective.clear()
        assert reg.captured == []
    net(batch)
    objective.detach()
    assert reg.captured == [] and reg.handles == []
    assert all(not m._forward_hooks for m in net.modules())
    net(batch)  # after detach nothing is captured any more
    assert reg.captured == []


class StepWatcher:
    """A reporter: `step` is called after the trainer's clear(), `end_epoch` after validation."""

    def __init__(self, box):
        self.box, self.steps, self.hooks_during, self.captured_after_step, self.hooks_at_epoch_end = box, 0, [], [], []

    def start_epoch(self, epoch, epochs, steps): ...

    def step(self, steps, loss, tokens):
        self.steps += steps
        reg = self.box["objective"].regularizers[0][2]
        self.captured_after_step.append(len(reg.captured))
        self.hooks_during.append(len(self.box["model"].token_head._forward_hooks))

    def end_epoch(self, record):
        self.hooks_at_epoch_end.append(sum(len(m._forward_hooks) for m in self.box["model"].modules()))

    def note(self, text): ...


def capture_model_and_objective(monkeypatch) -> dict:
    box = {}
    real_model, real_objective = train_module.build_model, train_module.build_objective

    def build_model_spy(*args, **kwargs):
        box["model"] = real_model(*args, **kwargs)
        return box["model"]

    def build_objective_spy(*args, **kwargs):
        box["objective"] = real_objective(*args, **kwargs)
        return box["objective"]

    monkeypatch.setattr(train_module, "build_model", build_model_spy)
    monkeypatch.setattr(train_module, "build_objective", build_objective_spy)
    return box


def test_hooks_hold_nothing_between_steps_and_are_gone_after_training(make_config, tmp_path, monkeypatch):
    box = capture_model_and_objective(monkeypatch)
    monkeypatch.setattr(trainer_module, "REPORT_EVERY", 1)  # a report after every step
    watcher = StepWatcher(box)
    regs = [{"name": "activation_l1", "weight": 0.01, "targets": ["token_head"]}]
    config = make_config(loss={"regularizers": regs}, train={"epochs": 2})
    train(config, out=tmp_path / "run", reporter=watcher)
    assert watcher.steps == 2 * 13  # 200 training rows in batches of 16: 13 steps per epoch
    assert watcher.hooks_during == [1] * watcher.steps
    assert watcher.captured_after_step == [0] * watcher.steps
    assert watcher.hooks_at_epoch_end == [0, 0]  # validation runs without hooks
    reg = box["objective"].regularizers[0][2]
    assert reg.captured == [] and reg.handles == []
    assert all(not m._forward_hooks for m in box["model"].modules())


# --- glob patterns ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "patterns,expected",
    [
        (["encoder*"], ["encoder", "encoder.0", "encoder.1"]),
        (["*.1"], ["encoder.1"]),
        (["encoder.?"], ["encoder.0", "encoder.1"]),
        (["*embedding"], ["embedding", "shape_embedding"]),
        (["encoder*", "encoder.0"], ["encoder", "encoder.0", "encoder.1"]),  # no duplicates
        (["token_head", "encoder.1"], ["token_head", "encoder.1"]),
    ],
)
def test_module_globs_on_window_tagger(patterns, expected):
    net = model("bow", task="tagging", outputs=4)
    assert ActivationL1(reg_cfg("activation_l1", patterns), net).names == expected


@pytest.mark.parametrize(
    "patterns,expected",
    [
        (
            ["encoder.weight_*"],
            [
                "encoder.weight_ih_l0",
                "encoder.weight_hh_l0",
                "encoder.weight_ih_l0_reverse",
                "encoder.weight_hh_l0_reverse",
            ],
        ),
        (["*.bias"], ["token_head.bias", "attention.bias"]),
        (["token_head.*", "attention.weight"], ["token_head.weight", "token_head.bias", "attention.weight"]),
        (
            ["*_reverse"],
            [
                "encoder.weight_ih_l0_reverse",
                "encoder.weight_hh_l0_reverse",
                "encoder.bias_ih_l0_reverse",
                "encoder.bias_hh_l0_reverse",
            ],
        ),
    ],
)
def test_parameter_globs_on_lstm(patterns, expected):
    net = model("lstm")
    norm = WeightNorm(reg_cfg("weight_l2", patterns), net)
    assert norm.names == expected
    named = dict(net.named_parameters())
    assert all(p is named[n] for p, n in zip(norm.params, expected))


def test_activation_glob_on_window_tagger_sums_each_matched_module():
    """encoder* = the Sequential, its Linear and its ReLU: mean|L| + 2 mean|relu(L)| (window 0, by hand)."""
    net = model("bow", task="tagging", outputs=4, window=0)
    tags = [np.array([0, 1, 2]), np.array([3, 0])]
    items = [
        Encoded(np.array([3, 4, 5][: len(t)], dtype=np.int64), t, shapes=np.array([1, 2, 3][: len(t)])) for t in tags
    ]
    batch = collate(items, "tagging")
    objective = objective_for(net, [reg_cfg("activation_l1", ["encoder*"])], task="tagging", classes=4)
    objective.attach()
    _, parts = objective(net(batch), batch)
    objective.detach()
    with torch.no_grad():
        x = torch.cat([net.embedding.weight[batch.tokens], net.shape_embedding.weight[batch.pad(batch.shapes)]], -1)
        lin = x @ net.encoder[0].weight.T + net.encoder[0].bias
        expected = lin.abs().mean() + 2 * lin.clamp(min=0).mean()
    assert float(parts["activation_l1"]) == pytest.approx(float(expected), rel=1e-6)


@pytest.mark.parametrize(
    "name,pattern,kind",
    [
        ("activation_l1", "lstm*", "module"),
        ("weight_l1", "encoder", "parameter"),
        ("weight_l2", "token_head.weights", "parameter"),
    ],
)
def test_non_matching_pattern_lists_what_is_available(name, pattern, kind):
    net = model("lstm")
    with pytest.raises(ConfigError) as info:
        objective_for(net, [reg_cfg(name, ["token_head*", pattern])])
    message = str(info.value)
    assert f"loss.regularizers.{name}: '{pattern}' matches no {kind}" in message
    available = [n for n, _ in net.named_modules() if n] if kind == "module" else [n for n, _ in net.named_parameters()]
    assert all(n in message for n in available)


def test_non_matching_pattern_fails_training_before_a_run_folder_exists(make_config, tmp_path):
    regs = [{"name": "activation_l1", "weight": 0.1, "targets": ["classifier"]}]
    with pytest.raises(ConfigError, match="'classifier' matches no module.*token_head"):
        train(make_config(loss={"regularizers": regs}), out=tmp_path / "never")
    assert not (tmp_path / "never").exists()


# --- weight norms: gradients -------------------------------------------------------------------------------


def one_step_grads(net, regularizers, batch):
    net = copy.deepcopy(net)
    objective = objective_for(net, regularizers)
    objective.attach()
    total, parts = objective(net(batch), batch)
    total.backward()
    objective.detach()
    grads = {n: (p.grad.to_dense() if p.grad.is_sparse else p.grad).clone() for n, p in net.named_parameters()}
    return grads, parts


@pytest.mark.parametrize(
    "name,targets,weight",
    [
        ("weight_l1", ["token_head.weight"], 0.05),
        ("weight_l2", ["encoder.weight_hh*"], 0.3),
        ("weight_l2", ["token_head.*", "attention.bias"], 0.01),
        ("weight_l1", ["embedding.weight"], 0.02),
    ],
)
def test_weight_norm_changes_only_the_named_gradients(name, targets, weight):
    net = model("lstm", sparse=False)
    with torch.no_grad():  # no zero entries, so sign(w) is unambiguous
        for p in net.parameters():
            p.add_(torch.where(p >= 0, 1e-3, -1e-3))
    batch = collate(sentence_items(), "classification")
    plain, _ = one_step_grads(net, [], batch)
    regular, parts = one_step_grads(net, [reg_cfg(name, targets, weight)], batch)
    chosen = WeightNorm(reg_cfg(name, targets), net).names
    params = dict(net.named_parameters())
    expected_value = sum(
        float(params[n].detach().abs().sum() if name == "weight_l1" else (params[n].detach() ** 2).sum())
        for n in chosen
    )
    assert float(parts[name]) == pytest.approx(expected_value, rel=1e-5)
    for n, p in params.items():
        w = p.detach()
        if n in chosen:
            extra = weight * torch.sign(w) if name == "weight_l1" else weight * 2 * w
            assert torch.allclose(regular[n] - plain[n], extra, atol=1e-6), n
        else:
            assert torch.equal(regular[n], plain[n]), n


def test_weight_l2_on_dense_params_with_a_sparse_embedding():
    """The default sparse embedding keeps working when the norm names other parameters."""
    net = model("bow")  # sparse: true
    assert net.embedding.sparse
    batch = collate(sentence_items(), "classification")
    plain, _ = one_step_grads(net, [], batch)
    regular, _ = one_step_grads(net, [reg_cfg("weight_l2", ["token_head.weight"], 0.2)], batch)
    assert torch.allclose(
        regular["token_head.weight"] - plain["token_head.weight"], 0.4 * net.token_head.weight.detach(), atol=1e-6
    )
    assert torch.equal(regular["embedding.weight"], plain["embedding.weight"])
    assert torch.equal(regular["bias"], plain["bias"])


# --- weight norms and sparse embeddings ---------------------------------------------------------------------


@pytest.mark.parametrize("name", ["weight_l2", "weight_l1"])
@pytest.mark.parametrize("model_type", ["bow", "lstm"])
def test_norm_of_a_sparse_embedding_is_a_config_error(name, model_type):
    net = model(model_type)
    with pytest.raises(ConfigError, match=rf"loss\.regularizers\.{name}: .*set model\.sparse: false"):
        objective_for(net, [reg_cfg(name, ["embedding.weight"])])
    with pytest.raises(ConfigError, match="model.sparse: false"):  # a glob that includes it as well
        objective_for(net, [reg_cfg(name, ["*weight*"])])


def test_shape_embedding_is_dense_and_may_be_regularised():
    net = model("bow", task="tagging", outputs=4)
    assert WeightNorm(reg_cfg("weight_l2", ["shape_embedding.weight"]), net).names == ["shape_embedding.weight"]


def test_weight_l2_on_embedding_in_training(make_config, tmp_path):
    regs = [{"name": "weight_l2", "weight": 0.05, "targets": ["embedding.weight"]}]
    with pytest.raises(ConfigError, match="model.sparse: false"):
        train(make_config(loss={"regularizers": regs}), out=tmp_path / "sparse")
    assert not (tmp_path / "sparse").exists()

    norms = {}
    for key, loss in [("plain", {}), ("l2", {"regularizers": regs})]:
        config = make_config(model={"sparse": False}, loss=loss, train={"epochs": 2})
        result = train(config, out=tmp_path / key)
        weights = load_file(str(checkpoint_weights(result.run_dir, "last")))
        norms[key] = float((weights["embedding.weight"] ** 2).sum())
        lines = [json.loads(x) for x in (result.run_dir / "metrics.jsonl").read_text().splitlines()]
        assert ("train_weight_l2" in lines[0]) == (key == "l2")
    assert result.metrics["valid"]["accuracy"] >= 0.9
    assert norms["l2"] < 0.5 * norms["plain"]


# --- every regulariser is logged ----------------------------------------------------------------------------


def test_each_regulariser_appears_in_metrics_jsonl(make_config, tmp_path):
    regs = [
        {"name": "activation_l1", "weight": 0.01, "targets": ["token_head"]},
        {"name": "weight_l2", "weight": 0.001, "targets": ["token_head.weight"]},
        {"name": "weight_l1", "weight": 0.002, "targets": ["bias"]},
    ]
    config = make_config(model={"word_ngrams": 2, "buckets": 500}, loss={"regularizers": regs}, train={"epochs": 2})
    result = train(config, out=tmp_path / "run")
    lines = [json.loads(x) for x in (result.run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [line["epoch"] for line in lines] == [1, 2]
    for line in lines:
        for key in ("train_activation_l1", "train_weight_l2", "train_weight_l1", "train_sentence_loss", "train_loss"):
            assert isinstance(line[key], float), key
        assert line["train_activation_l1"] > 0 and line["train_weight_l2"] > 0
        assert line["train_weight_l1"] >= 0  # the bias starts at zero
        # train_loss is the per-row mean of each step's total: the same weighted sum of the means
        expected = (
            line["train_sentence_loss"]
            + 0.01 * line["train_activation_l1"]
            + 0.001 * line["train_weight_l2"]
            + 0.002 * line["train_weight_l1"]
        )
        assert line["train_loss"] == pytest.approx(expected, rel=1e-5)
        assert "valid_activation_l1" not in line  # validation reports the plain loss
    assert lines[1]["train_weight_l1"] > 0  # the bias has moved
    assert result.metrics["valid"]["accuracy"] >= 0.9
