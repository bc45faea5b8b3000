"""Every loss of the registry against a reference written independently of the implementation
(hand formulas in NumPy or plain PyTorch ops), values and gradients; the nll/log-softmax pairing;
task/loss compatibility; and the effect of class weighting on an imbalanced set."""

from __future__ import annotations

import random
from collections import Counter

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from conftest import FILLER, collate, read_rows, small_config_dict, write_csv
from textcls.checkpoint import load_run
from textcls.config import LossConfig, RationaleConfig, config_from_dict, model_config
from textcls.encoded import IGNORE
from textcls.encoded import EncodedRow as Encoded
from textcls.errors import ConfigError
from textcls.losses import LOSSES
from textcls.losses.objective import Objective, build_objective
from textcls.losses.registry import resolve_loss_name
from textcls.models import build_model
from textcls.models.base import ModelOutput
from textcls.predict import predict_texts
from textcls.tasks import TASKS, get_task
from textcls.train import train

torch.set_num_threads(1)


def loss_fn(name: str, counts: Counter | None = None, num_classes: int = 3, **cfg):
    options = {k: v for k, v in cfg.items() if k in LOSSES[name].model_fields}  # (a case may set focal's gamma for all)
    return LOSSES[name](**options).build(counts or Counter(), num_classes)


def random_case(n=7, c=3, seed=0, scale=2.0):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(n, c, generator=g, dtype=torch.float64) * scale
    y = torch.randint(0, c, (n,), generator=g)
    y[:c] = torch.arange(c)  # every class present
    return logits, y


def np_log_softmax(x: np.ndarray) -> np.ndarray:
    m = x.max(1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(1, keepdims=True))


def value_and_grad(fn, logits: torch.Tensor, y: torch.Tensor):
    x = logits.clone().requires_grad_(True)
    out = fn(x, y)
    out.backward()
    return out.detach(), x.grad


# --- classification losses --------------------------------------------------------------------------


def test_registry_serves_the_documented_tasks():
    tasks = {name: {t for t, task in TASKS.items() if name in task.loss_names()} for name in LOSSES}
    assert tasks == {
        "bce": {"classification", "multilabel"},
        "ce": {"classification", "tagging"},
        "nll": {"classification", "tagging"},
        "focal": {"classification", "tagging", "multilabel"},
        "mse": {"regression", "ranking"},
        "l1": {"regression", "ranking"},
        "huber": {"regression", "ranking"},
        "ranknet": {"ranking"},
        "contrastive": {"embedding"},
        "triplet": {"embedding"},
        "crf": {"tagging"},
    }


def test_focal_with_gamma_zero_and_no_alpha_is_cross_entropy():
    logits, y = random_case(9, 4, seed=1)
    fn = loss_fn("focal", num_classes=4, gamma=0.0)
    value, grad = value_and_grad(fn, logits, y)
    ref_value, ref_grad = value_and_grad(F.cross_entropy, logits, y)
    assert torch.allclose(value, ref_value, atol=1e-10)
    assert torch.allclose(grad, ref_grad, atol=1e-10)


def focal_reference(logits: torch.Tensor, y: torch.Tensor, gamma: float, alpha=None) -> torch.Tensor:
    """-alpha_y (1 - p_y)^gamma log p_y, averaged over rows, from softmax probabilities by a loop."""
    terms = []
    for row, label in zip(logits, y.tolist()):
        p = torch.exp(row) / torch.exp(row).sum()
        a = 1.0 if alpha is None else alpha[label]
        terms.append(-a * (1 - p[label]) ** gamma * torch.log(p[label]))
    return torch.stack(terms).sum() / len(terms)


@pytest.mark.parametrize("alpha", [None, [0.25, 1.5, 0.75]])
@pytest.mark.parametrize("gamma", [2.0, 0.5])
def test_focal_matches_hand_formula_values_and_gradients(gamma, alpha):
    logits, y = random_case(8, 3, seed=2)
    fn = loss_fn("focal", gamma=gamma, alpha=alpha)
    value, grad = value_and_grad(fn, logits, y)
    ref_value, ref_grad = value_and_grad(lambda x, t: focal_reference(x, t, gamma, alpha), logits, y)
    assert torch.allclose(value, ref_value, atol=1e-6)
    assert torch.allclose(grad, ref_grad, atol=1e-6)
    if gamma > 0:  # the focusing term does something on these rows
        assert not torch.allclose(value, F.cross_entropy(logits, y))


@pytest.mark.parametrize("gamma", [1.0, 2.0, 3.0])
def test_focal_gradient_is_finite_on_a_certain_row(gamma):
    """A row predicted with p = 1 in float32 (margin > ~17) contributes nothing, and poisons nothing."""
    x = torch.tensor([[30.0, 0.0, 0.0], [0.0, 1.0, 0.0]], requires_grad=True)
    loss = loss_fn("focal", gamma=gamma)(x, torch.tensor([0, 2]))
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(x.grad).all()
    assert torch.all(x.grad[0].abs() < 1e-6)


@pytest.mark.parametrize("gamma", [0.5])
def test_focal_gradient_is_finite_on_a_certain_row_with_gamma_below_one(gamma):
    x = torch.tensor([[30.0, 0.0, 0.0], [0.0, 1.0, 0.0]], requires_grad=True)
    loss = loss_fn("focal", gamma=gamma)(x, torch.tensor([0, 2]))
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(x.grad).all()
    # the other row's gradient is that of the hand formula
    ref = x.detach()[1:].clone().requires_grad_(True)
    (focal_reference(ref, torch.tensor([2]), gamma) / 2).backward()
    assert torch.allclose(x.grad[1:], ref.grad, atol=1e-6)


def test_focal_alpha_defaults_to_balanced_class_weights():
    counts = Counter({0: 30, 1: 6, 2: 12})
    logits, y = random_case(8, 3, seed=3)
    alpha = [48 / (3 * 30), 48 / (3 * 6), 48 / (3 * 12)]
    got = loss_fn("focal", counts, class_weights="balanced")(logits.float(), y)
    assert float(got) == pytest.approx(float(focal_reference(logits, y, 2.0, alpha)), rel=1e-6)


def test_focal_alpha_of_wrong_length_is_a_config_error():
    with pytest.raises(ConfigError, match="alpha"):
        loss_fn("focal", num_classes=3, alpha=[1.0, 2.0])


@pytest.mark.parametrize("gamma", [0.0, 2.0])
def test_focal_on_one_binary_logit_is_sigmoid_focal(gamma):
    x = torch.tensor([[2.0], [-1.5], [0.3], [-0.2], [4.0], [-3.0]], dtype=torch.float64)
    y = torch.tensor([1, 0, 0, 1, 1, 0])

    def sigmoid_focal(z, t):
        p = 1 / (1 + torch.exp(-z[:, 0]))
        p_true = torch.where(t == 1, p, 1 - p)
        return (-((1 - p_true) ** gamma) * torch.log(p_true)).mean()

    value, grad = value_and_grad(loss_fn("focal", num_classes=2, gamma=gamma), x, y)
    ref_value, ref_grad = value_and_grad(sigmoid_focal, x, y)
    assert torch.allclose(value, ref_value, atol=1e-10)
    assert torch.allclose(grad, ref_grad, atol=1e-10)
    if gamma == 0:  # and that is plain BCE
        assert float(value) == pytest.approx(float(F.binary_cross_entropy_with_logits(x[:, 0], y.double())))


def np_weighted_ce(logits: np.ndarray, y: np.ndarray, w: np.ndarray) -> float:
    nll = -np_log_softmax(logits)[np.arange(len(y)), y]
    return float((w[y] * nll).sum() / w[y].sum())


def test_weighted_ce_is_a_weighted_mean():
    logits, y = random_case(10, 3, seed=4)
    weights = [0.5, 3.0, 1.25]
    fn = loss_fn("ce", class_weights=weights)
    value, grad = value_and_grad(fn, logits.float(), y)
    expected = np_weighted_ce(logits.numpy(), y.numpy(), np.array(weights))
    assert float(value) == pytest.approx(expected, rel=1e-5)
    # not the plain mean of the weighted terms
    plain_mean = float(
        (np.array(weights)[y.numpy()] * -np_log_softmax(logits.numpy())[np.arange(10), y.numpy()]).mean()
    )
    assert expected != pytest.approx(plain_mean, rel=1e-3)
    # gradient: d/dx of sum w_y nll / sum w_y = w_y (softmax - onehot) / sum w_y
    p = torch.softmax(logits, 1)
    w = torch.tensor(weights, dtype=torch.float64)[y]
    ref_grad = w[:, None] * (p - F.one_hot(y, 3)) / w.sum()
    assert torch.allclose(grad.double(), ref_grad, atol=1e-6)


def test_nll_takes_class_weights_like_ce():
    logits, y = random_case(10, 3, seed=5)
    weights = [2.0, 0.5, 1.0]
    got = loss_fn("nll", class_weights=weights)(torch.log_softmax(logits.float(), 1), y)
    assert float(got) == pytest.approx(np_weighted_ce(logits.numpy(), y.numpy(), np.array(weights)), rel=1e-5)


def test_balanced_class_weights_are_n_over_classes_times_count():
    counts = Counter({0: 50, 1: 5, 2: 20, 3: 25})
    logits, y = random_case(12, 4, seed=6)
    n, c = 100, 4
    balanced = np.array([n / (c * counts[k]) for k in range(c)])
    got = loss_fn("ce", counts, num_classes=4, class_weights="balanced")(logits.float(), y)
    assert float(got) == pytest.approx(np_weighted_ce(logits.numpy(), y.numpy(), balanced), rel=1e-5)
    # balanced weights give every class the same total weight over the training set
    assert np.allclose([balanced[k] * counts[k] for k in range(c)], n / c)


def test_label_smoothing_by_hand():
    logits, y = random_case(9, 3, seed=7)
    eps = 0.15
    got = loss_fn("ce", label_smoothing=eps)(logits, y)
    log_p = np_log_softmax(logits.numpy())
    nll = -log_p[np.arange(9), y.numpy()]
    uniform = -log_p.mean(1)  # mean over the classes of -log p
    assert float(got) == pytest.approx(float(((1 - eps) * nll + eps * uniform).mean()), rel=1e-9)


@pytest.mark.parametrize("pos_weight", [None, 3.0, 0.25])
def test_bce_with_pos_weight_values_and_gradients(pos_weight):
    x = torch.tensor([[1.2], [-0.7], [2.5], [-2.0], [0.1]], dtype=torch.float64)
    y = torch.tensor([1, 0, 0, 1, 1])
    w = 1.0 if pos_weight is None else pos_weight

    def reference(z, t):
        z, t = z[:, 0], t.double()
        log_sig, log_one_minus = -torch.log1p(torch.exp(-z)), -torch.log1p(torch.exp(z))
        return -(w * t * log_sig + (1 - t) * log_one_minus).mean()

    value, grad = value_and_grad(loss_fn("bce", num_classes=2, pos_weight=pos_weight), x.float(), y)
    ref_value, ref_grad = value_and_grad(reference, x, y)
    assert float(value) == pytest.approx(float(ref_value), rel=1e-6)
    assert torch.allclose(grad.double(), ref_grad, atol=1e-6)
    # closed form of the gradient: (w y (sigma - 1) + (1 - y) sigma) / N
    s = torch.sigmoid(x[:, 0])
    closed = (w * y * (s - 1) + (1 - y) * s) / len(y)
    assert torch.allclose(ref_grad[:, 0], closed, atol=1e-12)


def test_bce_auto_pos_weight_is_negatives_over_positives():
    x = torch.tensor([[0.4], [-1.1], [1.7], [0.0]])
    y = torch.tensor([1, 0, 0, 1])
    auto = loss_fn("bce", Counter({0: 12, 1: 3}), num_classes=2, pos_weight="auto")(x, y)
    fixed = loss_fn("bce", num_classes=2, pos_weight=4.0)(x, y)
    assert float(auto) == pytest.approx(float(fixed))


def test_ce_gradient_is_softmax_minus_onehot():
    logits, y = random_case(6, 5, seed=8)
    _, grad = value_and_grad(loss_fn("ce", num_classes=5), logits, y)
    p = np.exp(np_log_softmax(logits.numpy()))
    expected = (p - np.eye(5)[y.numpy()]) / 6
    assert np.allclose(grad.numpy(), expected, atol=1e-12)


def test_nll_on_log_softmax_equals_ce_values_and_gradients():
    logits, y = random_case(8, 4, seed=9)
    nll = loss_fn("nll", num_classes=4)
    value, grad = value_and_grad(lambda x, t: nll(torch.log_softmax(x, -1), t), logits, y)
    ref_value, ref_grad = value_and_grad(loss_fn("ce", num_classes=4), logits, y)
    assert torch.allclose(value, ref_value, atol=1e-12)
    assert torch.allclose(grad, ref_grad, atol=1e-12)


@pytest.mark.parametrize(
    "name, option",
    [
        ("nll", {"label_smoothing": 0.2}),
        ("focal", {"label_smoothing": 0.1}),
        ("bce", {"class_weights": "balanced"}),
        ("ce", {"pos_weight": 2.0}),
        ("ce", {"gamma": 1.0}),
        ("bce", {"beta": 2.0}),
    ],
)
def test_an_option_the_chosen_loss_does_not_read_is_rejected(name, option):
    """Silently ignoring e.g. label_smoothing under nll would make nll differ from ce unnoticed."""
    from textcls.losses.registry import resolve_loss

    with pytest.raises(ConfigError, match=f"loss.{next(iter(option))} does not apply to loss '{name}'"):
        resolve_loss(LossConfig(name=name, **option), TASKS["classification"], 2)
    resolve_loss(LossConfig(name=name), TASKS["classification"], 2)  # the same loss without the option is fine


# --- tagging: padding never reaches the loss ---------------------------------------------------------


def tagging_batch():
    tags = [np.array([0, 2, 1, 1, 0]), np.array([2, 1]), np.array([1, 0, 2])]
    items = [Encoded(np.arange(2, 2 + len(t), dtype=np.int64), t, shapes=np.ones(len(t), dtype=np.int64)) for t in tags]
    batch = collate(items, "tagging")
    assert (batch.labels == IGNORE).sum() == 5  # padding carries IGNORE
    return batch, tags


def tag_objective(name: str, **cfg) -> Objective:
    return Objective(TASKS["tagging"], loss_fn(name, **cfg), RationaleConfig(), None, [])


@pytest.mark.parametrize("name", ["ce", "nll", "focal"])
def test_tagging_loss_skips_padding(name):
    batch, tags = tagging_batch()
    g = torch.Generator().manual_seed(11)
    scores = torch.randn(3, 5, 3, generator=g, dtype=torch.float64, requires_grad=True)
    model_out = torch.log_softmax(scores, -1) if name == "nll" else scores
    loss = tag_objective(name, gamma=0.0).main(ModelOutput(None, model_out), batch)
    loss.backward()
    # reference: the mean -log p over the 10 real tokens only, row by row
    terms = []
    for b, t in enumerate(tags):
        for i, tag in enumerate(t):
            row = scores[b, i].detach()
            terms.append(-(row[tag] - torch.logsumexp(row, 0)))
    assert float(loss.detach()) == pytest.approx(float(sum(terms) / len(terms)), rel=1e-10)
    # padding positions get no gradient, whatever scores sit there
    padding = batch.labels == IGNORE
    assert torch.all(scores.grad[padding] == 0)
    assert torch.all(scores.grad[~padding].abs().sum(-1) > 0)


def test_tagging_nll_equals_ce_with_gradients():
    batch, _ = tagging_batch()
    scores = torch.randn(3, 5, 3, generator=torch.Generator().manual_seed(12), dtype=torch.float64)
    a = scores.clone().requires_grad_(True)
    b = scores.clone().requires_grad_(True)
    la = tag_objective("nll").main(ModelOutput(None, torch.log_softmax(a, -1)), batch)
    lb = tag_objective("ce").main(ModelOutput(None, b), batch)
    la.backward()
    lb.backward()
    assert torch.allclose(la, lb, atol=1e-12)
    assert torch.allclose(a.grad, b.grad, atol=1e-12)


# --- nll selects a log-softmax model, and then equals ce on the raw model -----------------------------


def sentence_batch(labels):
    rng = np.random.RandomState(0)
    items = [Encoded(rng.randint(2, 30, size=rng.randint(2, 7)).astype(np.int64), y) for y in labels]
    return collate(items, "classification")


def model_pair(model_type: str, task: str, outputs: int):
    cfg = model_config(type=model_type, embedding_dim=8, hidden_dim=6, sparse=False)
    torch.manual_seed(0)
    raw = build_model(cfg, get_task(task), 30, outputs)
    logsm = build_model(cfg, get_task(task), 30, outputs, log_softmax=True)
    logsm.load_state_dict(raw.state_dict())
    return raw, logsm


@pytest.mark.parametrize(
    "model_type,task", [("bow", "classification"), ("lstm", "classification"), ("bow", "tagging"), ("lstm", "tagging")]
)
def test_log_softmax_model_with_nll_equals_raw_model_with_ce(model_type, task):
    if task == "tagging":
        batch, _ = tagging_batch()
    else:
        batch = sentence_batch([0, 2, 1, 1, 2, 0])
    raw, logsm = model_pair(model_type, task, 3)
    results = []
    for model, name in [(raw, "ce"), (logsm, "nll")]:
        objective = build_objective(
            LossConfig(name=name), get_task(task), LOSSES[name](), 3, Counter(), Counter(), model
        )
        total, _ = objective(model(batch), batch)
        total.backward()
        results.append(
            (float(total.detach()), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None})
        )
    (ce_value, ce_grads), (nll_value, nll_grads) = results
    assert nll_value == pytest.approx(ce_value, rel=1e-6)
    assert ce_grads.keys() == nll_grads.keys() and ce_grads
    for name in ce_grads:
        assert torch.allclose(ce_grads[name], nll_grads[name], atol=1e-6), name


def test_log_softmax_model_outputs_log_probabilities():
    raw, logsm = model_pair("bow", "classification", 3)
    batch = sentence_batch([0, 1, 2])
    out = logsm(batch).sentence
    assert torch.allclose(out.exp().sum(-1), torch.ones(3), atol=1e-6)
    assert torch.allclose(out, torch.log_softmax(raw(batch).sentence, -1), atol=1e-6)


# --- regression losses ----------------------------------------------------------------------------------


def huber_reference(err: float, delta: float) -> float:
    return 0.5 * err * err if abs(err) < delta else delta * (abs(err) - 0.5 * delta)


@pytest.mark.parametrize("beta", [1.0, 0.5, 3.0])
def test_huber_on_both_sides_of_beta(beta):
    pred = torch.tensor([[0.2], [1.0], [-4.0], [2.9], [7.5]], dtype=torch.float64)
    y = torch.tensor([0.0, 1.3, 0.0, 0.0, 2.0], dtype=torch.float64)
    errs = (pred[:, 0] - y).tolist()
    assert any(abs(e) < beta for e in errs) and any(abs(e) > beta for e in errs)
    fn = loss_fn("huber", num_classes=0, beta=beta)
    value, grad = value_and_grad(fn, pred, y)
    assert float(value) == pytest.approx(np.mean([huber_reference(e, beta) for e in errs]), rel=1e-12)
    # gradient: err inside beta, beta * sign(err) outside, over N
    expected = [(e if abs(e) < beta else beta * np.sign(e)) / len(errs) for e in errs]
    assert np.allclose(grad[:, 0].numpy(), expected, atol=1e-12)


def test_huber_single_rows_each_side():
    fn = loss_fn("huber", num_classes=0, beta=2.0)
    inside = fn(torch.tensor([[1.5]]), torch.tensor([0.0]))
    outside = fn(torch.tensor([[5.0]]), torch.tensor([0.0]))
    assert float(inside) == pytest.approx(0.5 * 1.5**2)
    assert float(outside) == pytest.approx(2.0 * (5.0 - 1.0))


def test_mse_and_l1_by_hand_with_gradients():
    pred = torch.tensor([[0.5], [-1.0], [3.0], [2.0]], dtype=torch.float64)
    y = torch.tensor([1.0, -1.0, 0.0, 2.5], dtype=torch.float64)
    err = np.array([-0.5, 0.0, 3.0, -0.5])
    value, grad = value_and_grad(loss_fn("mse", num_classes=0), pred, y)
    assert float(value) == pytest.approx(float((err**2).mean()))
    assert np.allclose(grad[:, 0].numpy(), 2 * err / 4)
    value, grad = value_and_grad(loss_fn("l1", num_classes=0), pred, y)
    assert float(value) == pytest.approx(float(np.abs(err).mean()))
    assert np.allclose(grad[:, 0].numpy(), np.sign(err) / 4)
    assert pred.shape == (4, 1)  # (N, 1) model output against (N,) targets: no broadcasting to (N, N)


def test_regression_objective_uses_sentence_output():
    items = [Encoded(np.array([2, 3], dtype=np.int64), v) for v in [0.5, -2.0, 1.0]]
    batch = collate(items, "regression")
    objective = Objective(TASKS["regression"], loss_fn("mse", num_classes=0), RationaleConfig(), None, [])
    out = ModelOutput(torch.tensor([[0.0], [0.0], [0.0]]), torch.zeros(3, 2, 1))
    assert float(objective.main(out, batch)) == pytest.approx((0.25 + 4 + 1) / 3)


# --- task / loss compatibility ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name,task,num_labels",
    [
        ("mse", "classification", 2),
        ("l1", "tagging", 4),
        ("huber", "classification", 3),
        ("ce", "regression", 0),
        ("nll", "regression", 0),
        ("focal", "regression", 0),
        ("bce", "regression", 0),
        ("bce", "tagging", 2),
    ],
)
def test_loss_that_does_not_fit_the_task_is_a_config_error(name, task, num_labels):
    with pytest.raises(ConfigError, match=f"'{name}' does not fit task '{task}'") as info:
        resolve_loss_name(name, get_task(task), num_labels)
    # the message lists the losses that do fit
    fitting = TASKS[task].loss_names()
    assert all(n in str(info.value) for n in fitting)


def test_bce_with_more_than_two_labels_is_a_config_error():
    with pytest.raises(ConfigError, match="two labels"):
        resolve_loss_name("bce", TASKS["classification"], 3)


@pytest.mark.parametrize(
    "task,num_labels,expected",
    [("classification", 2, "bce"), ("classification", 4, "ce"), ("tagging", 2, "ce"), ("regression", 0, "mse")],
)
def test_auto_loss(task, num_labels, expected):
    assert resolve_loss_name("auto", TASKS[task], num_labels) == expected


@pytest.mark.parametrize(
    "name,task,labels,outputs",
    [
        ("bce", "classification", 2, 1),
        ("ce", "classification", 2, 2),
        ("focal", "tagging", 5, 5),
        ("huber", "regression", 0, 1),
    ],
)
def test_num_outputs(name, task, labels, outputs):
    assert get_task(task).num_outputs(LOSSES[name], labels) == outputs


def test_objective_has_no_regularisers_on_a_bare_module():
    objective = build_objective(
        LossConfig(name="ce"), TASKS["classification"], LOSSES["ce"](), 3, Counter(), Counter(), nn.Module()
    )
    assert objective.regularizers == []


# --- class weighting on an imbalanced set ---------------------------------------------------------------


def imbalanced_rows(n: int, seed: int) -> list[list[str]]:
    """95% 'common', 5% 'rare'. The cue word 'spark' is in 90% of rare rows but also in 10% of common
    ones, so P(rare | spark) = 0.045 / (0.045 + 0.095) ~ 0.32: an unweighted model predicts 'common'
    for nearly every row, a class-weighted one (odds x 19) calls the spark rows 'rare'."""
    rng = random.Random(seed)
    rows = []
    n_rare = n // 20
    for i in range(n):
        rare = i < n_rare
        words = rng.choices(FILLER, k=rng.randint(3, 5))
        # exact shares per class, so every split has the same cue statistics
        k = i if rare else i - n_rare
        if (rare and k % 10 != 0) or (not rare and k % 10 == 0):
            words.append("spark")
        rng.shuffle(words)
        rows.append([" ".join(words), "rare" if rare else "common"])
    rng.shuffle(rows)
    return rows


@pytest.fixture(scope="module")
def imbalanced_runs(tmp_path_factory):
    """Minority recall on the validation rows, recomputed from the last checkpoint's predictions (the
    epoch a monitor picks is noisy on 20 rare rows; the end of training is what the loss converges to)."""
    folder = tmp_path_factory.mktemp("imbalanced")
    csvs = {
        "train": write_csv(folder / "train.csv", ["text", "label"], imbalanced_rows(1600, 1)),
        "valid": write_csv(folder / "valid.csv", ["text", "label"], imbalanced_rows(400, 2)),
    }
    rare_texts = [r["text"] for r in read_rows(csvs["valid"]) if r["label"] == "rare"]
    assert len(rare_texts) == 20
    losses = {
        "ce": {"name": "ce"},
        "ce_balanced": {"name": "ce", "class_weights": "balanced"},
        "focal_balanced": {"name": "focal", "gamma": 2.0, "class_weights": "balanced"},  # alpha = balanced weights
        "focal_alpha": {"name": "focal", "gamma": 2.0, "alpha": [0.05, 0.95]},  # labels sort: common, rare
    }
    recall = {}
    for key, loss in losses.items():
        config = config_from_dict(
            small_config_dict(
                csvs, folder / "runs", loss=loss, optim={"lr": 0.02}, train={"epochs": 5, "batch_size": 32}
            )
        )
        result = train(config, out=folder / key)
        predicted = predict_texts(load_run(result.run_dir, "last"), rare_texts)
        recall[key] = sum(p["label"] == "rare" for p in predicted) / len(rare_texts)
    return recall


@pytest.mark.slow
def test_plain_ce_misses_the_minority_class(imbalanced_runs):
    assert imbalanced_runs["ce"] <= 0.3


@pytest.mark.parametrize("key", ["ce_balanced", "focal_balanced", "focal_alpha"])
def test_weighting_raises_minority_recall(imbalanced_runs, key):
    assert imbalanced_runs[key] >= imbalanced_runs["ce"] + 0.4
    assert imbalanced_runs[key] >= 0.7
