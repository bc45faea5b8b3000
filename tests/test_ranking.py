"""Ranking: RankNet against the worked example and a hand-written loop over pairs (values and
gradients), the pair rules (groups, ties, sampled partners), the ranking metrics against scipy and
scikit-learn, and the task end to end (train, eval, predict with --sort)."""

from __future__ import annotations

import itertools
import json
import math
import random

import numpy as np
import pytest
import torch
from scipy.stats import kendalltau, spearmanr
from sklearn.metrics import ndcg_score
from typer.testing import CliRunner

from conftest import FILLER, NEGATIVE, POSITIVE, write_csv
from textcls.errors import ConfigError, DataError
from textcls.losses import LOSSES
from textcls.losses.ranking import ranking_pairs
from textcls.metrics import ranking_metrics


def ranknet(**options):
    return LOSSES["ranknet"](**options).build(None, 0)


def reference_ranknet(s: torch.Tensor, gold: list[float], groups: list[int] | None, ties: str) -> torch.Tensor:
    """Every unordered pair once, by a plain loop: -[q log P + (1 - q) log(1 - P)], P = sigmoid(s_i - s_j)."""
    terms = []
    for i, j in itertools.combinations(range(len(gold)), 2):
        if groups is not None and groups[i] != groups[j]:
            continue
        if gold[i] == gold[j] and ties == "skip":
            continue
        q = 1.0 if gold[i] > gold[j] else 0.0 if gold[i] < gold[j] else 0.5
        p = torch.sigmoid(s[i] - s[j])
        terms.append(-(q * torch.log(p) + (1 - q) * torch.log(1 - p)))
    return torch.stack(terms).mean()


def test_ranknet_worked_example():
    # s = (0.7, 0.3), row 0 above row 1: P = sigmoid(0.4) = 0.599, loss = -log(0.599) = 0.513
    loss = ranknet()(torch.tensor([[0.7], [0.3]]), torch.tensor([2.0, 1.0]))
    assert float(torch.sigmoid(torch.tensor(0.4))) == pytest.approx(0.599, abs=5e-4)
    assert float(loss) == pytest.approx(0.513, abs=5e-4)
    # the order of the rows does not matter
    assert float(ranknet()(torch.tensor([[0.3], [0.7]]), torch.tensor([1.0, 2.0]))) == pytest.approx(float(loss))


@pytest.mark.parametrize("ties", ["skip", "half"])
@pytest.mark.parametrize("grouped", [False, True])
def test_ranknet_equals_a_loop_over_pairs_values_and_gradients(ties, grouped):
    g = torch.Generator().manual_seed(3)
    scores = torch.randn(9, 1, generator=g, dtype=torch.float64)
    gold = [2.0, 1.0, 1.0, -0.5, 3.0, 1.0, 0.0, 2.0, -0.5]  # ties inside and across groups
    groups = [0, 0, 1, 1, 0, 1, 2, 2, 2] if grouped else None
    got_s = scores.clone().requires_grad_(True)
    got = ranknet(ties=ties)(got_s, torch.tensor(gold, dtype=torch.float64), torch.tensor(groups) if grouped else None)
    got.backward()
    ref_s = scores[:, 0].clone().requires_grad_(True)
    ref = reference_ranknet(ref_s, gold, groups, ties)
    ref.backward()
    torch.testing.assert_close(got, ref)
    torch.testing.assert_close(got_s.grad[:, 0], ref_s.grad)


def test_ranknet_without_an_ordered_pair_is_zero_with_the_graph_kept():
    scores = torch.tensor([[0.2], [0.9]], requires_grad=True)
    loss = ranknet()(scores, torch.tensor([1.0, 1.0]))
    loss.backward()
    assert float(loss.detach()) == 0 and torch.equal(scores.grad, torch.zeros(2, 1))


def test_sampled_partners_are_distinct_valid_and_capped():
    torch.manual_seed(0)
    gold = torch.tensor([1.0, 2.0, 2.0, 3.0, 0.0, 5.0, 4.0, 4.0])
    groups = torch.tensor([0, 0, 0, 0, 1, 1, 1, 1])
    i, j, q = ranking_pairs(gold, groups, "skip", per_item=2)
    drawn: dict[int, list[int]] = {}
    for a, b, target in zip(i.tolist(), j.tolist(), q.tolist()):
        assert groups[a] == groups[b] and gold[a] != gold[b] and a != b  # same group, order known
        assert target == (1.0 if gold[a] > gold[b] else 0.0)
        drawn.setdefault(a, []).append(b)
    for a in range(8):  # every row draws min(2, its valid partners) distinct partners
        valid = [b for b in range(8) if b != a and groups[a] == groups[b] and gold[a] != gold[b]]
        assert len(drawn.get(a, [])) == min(2, len(valid)) and len(set(drawn.get(a, []))) == len(drawn.get(a, []))
    # the loss over the drawn pairs is their mean cross-entropy, computed here by hand
    s = torch.randn(8)
    torch.manual_seed(5)
    loss = ranknet(pairs_per_item=2)(s[:, None], gold, groups)
    torch.manual_seed(5)
    i, j, q = ranking_pairs(gold, groups, "skip", per_item=2)
    p = torch.sigmoid(s[i] - s[j])
    assert float(loss) == pytest.approx(float(-(q * p.log() + (1 - q) * (1 - p).log()).mean()), rel=1e-5)


# --- metrics ---------------------------------------------------------------------------------------


def test_ranking_metrics_against_scipy_and_scikit_learn():
    rng = np.random.default_rng(1)
    gold = np.round(rng.normal(size=200), 1)  # many ties in the gold scores
    pred = rng.normal(size=200)
    pred[:30] = pred[30:60]  # and some in the predictions
    m = ranking_metrics(gold, pred)
    assert m["kendall_tau"] == pytest.approx(kendalltau(gold, pred).statistic, abs=1e-12)  # tau-b
    assert m["spearman"] == pytest.approx(spearmanr(gold, pred).statistic, abs=1e-12)
    # pairwise accuracy by a loop: pairs whose gold order is known, a tied prediction half right
    right = known = 0.0
    for a, b in itertools.combinations(range(200), 2):
        if gold[a] != gold[b]:
            known += 1
            right += 1.0 if (gold[a] - gold[b]) * (pred[a] - pred[b]) > 0 else 0.5 if pred[a] == pred[b] else 0.0
    assert m["pairwise_accuracy"] == pytest.approx(right / known)
    tie_free = rng.normal(size=200)  # scikit-learn averages over tied predictions; ours keeps row order
    assert ranking_metrics(gold, tie_free)["ndcg_at_10"] == pytest.approx(
        ndcg_score([gold - gold.min()], [tie_free], k=10)
    )


def test_ranking_metrics_within_groups_are_averaged_over_groups():
    rng = np.random.default_rng(2)
    groups = np.repeat([3, 1, 7, 5], [12, 9, 1, 15])  # one group of a single row: nothing to rank
    rng.shuffle(groups)
    gold, pred = rng.normal(size=len(groups)), rng.normal(size=len(groups))
    m = ranking_metrics(gold, pred, groups)
    scored = [g for g in np.unique(groups) if (groups == g).sum() > 1]
    assert m["groups"] == len(scored) == 3
    taus = [kendalltau(gold[groups == g], pred[groups == g]).statistic for g in scored]
    ndcgs = [ndcg_score([gold[groups == g] - gold[groups == g].min()], [pred[groups == g]], k=10) for g in scored]
    assert m["kendall_tau"] == pytest.approx(np.mean(taus))
    assert m["ndcg_at_10"] == pytest.approx(np.mean(ndcgs))


# --- the task end to end ----------------------------------------------------------------------------


def scored_rows(n: int, seed: int, groups: bool = False) -> list[list[str]]:
    """Texts whose gold score is (#positive words - #negative words) plus noise smaller than 1."""
    rng = random.Random(seed)
    rows = []
    for r in range(n):
        pos, neg = rng.randint(0, 3), rng.randint(0, 3)
        words = rng.choices(POSITIVE, k=pos) + rng.choices(NEGATIVE, k=neg) + rng.choices(FILLER, k=rng.randint(2, 4))
        rng.shuffle(words)
        row = [" ".join(words), f"{pos - neg + rng.uniform(-0.3, 0.3):.3f}"]
        rows.append(row + ([f"q{r % 5}"] if groups else []))
    return rows


@pytest.fixture
def ranking_csvs(tmp_path) -> dict:
    header = ["text", "score", "query"]
    return {
        split: write_csv(tmp_path / "rank" / f"{split}.csv", header, scored_rows(n, seed, groups=True))
        for split, n, seed in [("train", 300, 1), ("valid", 60, 2), ("test", 60, 3)]
    }


def ranking_config(make_config, csvs, **sections):
    base = {
        "task": "ranking",
        "data": {"label_column": "score", **sections.pop("data", {})},
        "train": {"epochs": 8, "monitor": "kendall_tau"},
    }
    return make_config(csvs, **{**base, **sections})


@pytest.mark.slow
@pytest.mark.parametrize("loss", ["ranknet", "mse"])
def test_ranking_learns_the_order_and_reports_its_metrics(make_config, ranking_csvs, tmp_path, loss):
    from textcls.checkpoint import load_run
    from textcls.predict import evaluate_file, predict_texts
    from textcls.train import train

    config = ranking_config(make_config, ranking_csvs, data={"group_column": "query"}, loss={"name": loss})
    result = train(config, out=tmp_path / loss)
    run = load_run(result.run_dir)
    metrics = evaluate_file(run, ranking_csvs["test"])
    assert {"pairwise_accuracy", "kendall_tau", "spearman", "ndcg_at_10", "groups", "loss", "rows"} <= set(metrics)
    assert metrics["groups"] == 5 and metrics["pairwise_accuracy"] > 0.85
    # the metrics are those of the predicted scores, grouped by query, computed here from predict's output
    rows = [line.split(",") for line in ranking_csvs["test"].read_text().splitlines()[1:]]
    scores = np.array([r["score"] for r in predict_texts(run, [text for text, _, _ in rows])])
    gold = np.array([float(s) for _, s, _ in rows])
    queries = np.array([q for _, _, q in rows])
    taus = [kendalltau(gold[queries == q], scores[queries == q]).statistic for q in np.unique(queries)]
    assert metrics["kendall_tau"] == pytest.approx(np.mean(taus), abs=1e-5)


def test_cli_predict_gives_scores_and_sorts_them(make_config, ranking_csvs, tmp_path):
    import yaml

    from textcls.cli import app

    path = tmp_path / "rank.yaml"
    path.write_text(yaml.safe_dump(ranking_config(make_config, ranking_csvs, train={"epochs": 3}).to_dict()))
    runner = CliRunner()
    assert runner.invoke(app, ["train", "-c", str(path), "-o", str(tmp_path / "run"), "-q"]).exit_code == 0
    texts = ["the film was dull", "a superb lovely wonderful film", "the plot", "awful boring terrible dull story"]
    plain = runner.invoke(app, ["predict", str(tmp_path / "run"), *texts, "-f", "json"])
    results = [json.loads(line) for line in plain.output.splitlines()]
    assert [r["text"] for r in results] == texts and all(isinstance(r["score"], float) for r in results)
    ranked = runner.invoke(app, ["predict", str(tmp_path / "run"), *texts, "-f", "json", "--sort"])
    in_order = [json.loads(line) for line in ranked.output.splitlines()]
    assert in_order == sorted(results, key=lambda r: r["score"], reverse=True)
    assert in_order[0]["text"] == texts[1] and in_order[-1]["text"] == texts[3]
    table = runner.invoke(app, ["predict", str(tmp_path / "run"), *texts, "--sort"])
    assert table.exit_code == 0 and table.output.index("superb") < table.output.index("awful")
    # a blank line has no score: it comes last, still numbered
    blank = runner.invoke(app, ["predict", str(tmp_path / "run"), texts[0], " ", *texts[1:], "-f", "json", "--sort"])
    assert [json.loads(line) for line in blank.output.splitlines()][-1] == {"line": 2, "error": "empty line"}
    evaluated = runner.invoke(app, ["eval", str(tmp_path / "run"), str(ranking_csvs["test"]), "-f", "json"])
    assert not math.isnan(json.loads(evaluated.output)["pairwise_accuracy"])


def test_sort_needs_a_task_with_a_score(tmp_path, make_config):
    from textcls.cli import app
    from textcls.train import train

    run = train(make_config(train={"epochs": 1}), out=tmp_path / "run").run_dir
    result = CliRunner().invoke(app, ["predict", str(run), "a good film", "--sort"])
    assert result.exit_code == 1 and "--sort" in result.output and "'classification'" in result.output


def test_group_column_errors(make_config, ranking_csvs, tmp_path):
    from textcls.train import train

    with pytest.raises(ConfigError, match="data.group_column is read by task 'ranking', not by 'regression'"):
        train(
            make_config(ranking_csvs, task="regression", data={"label_column": "score", "group_column": "query"}),
            out=tmp_path / "a",
        )
    bad = write_csv(
        tmp_path / "bad.csv", ["text", "score", "query"], [["a good film", "1", "q1"], ["a dull film", "0", " "]]
    )
    with pytest.raises(DataError, match=r"bad.csv, row 2, column 'query': empty group"):
        train(
            ranking_config(make_config, {"train": bad, "valid": ranking_csvs["valid"]}, data={"group_column": "query"}),
            out=tmp_path / "b",
        )
    with pytest.raises(ConfigError, match="loss.ties does not apply to loss 'mse'"):
        train(ranking_config(make_config, ranking_csvs, loss={"name": "mse", "ties": "half"}), out=tmp_path / "c")


@pytest.mark.slow
def test_shipped_ranking_config_trains_from_the_cli(train_shipped):
    test = train_shipped("configs/sentiment_ranking.yaml", epochs=1)
    assert test["pairwise_accuracy"] > 0.6 and test["groups"] == 1  # one epoch already orders most pairs


def test_grouped_batches_keep_each_group_whole():
    from textcls.batching import TorchShuffler
    from textcls.config import TrainConfig
    from textcls.encoded import Encoded
    from textcls.tasks import get_task

    groups = np.repeat(np.arange(40), np.random.default_rng(0).integers(1, 9, 40))
    items = Encoded(np.arange(len(groups) + 1), np.zeros(len(groups), dtype=np.int64), groups=groups)
    batches = get_task("ranking").batches(
        items, TrainConfig(batch_size=16), TorchShuffler(torch.Generator().manual_seed(0))
    )
    assert sorted(np.concatenate(batches).tolist()) == list(range(len(groups)))  # every row once
    for batch in batches:
        assert len(batch) <= 16 or len(set(groups[batch])) == 1  # a group larger than a batch alone
        for g in set(groups[batch].tolist()):
            assert (groups[batch] == g).sum() == (groups == g).sum()  # whole groups only
