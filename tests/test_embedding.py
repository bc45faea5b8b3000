"""Sentence embeddings: contrastive and triplet losses and the mining rules against hand-written
loops and a worked example (values and gradients), the class-balanced sampler, the threshold and
neighbour metrics against brute force and scikit-learn, and the task end to end (pairs, triplets,
class labels; train, eval, predict, embed, similarity)."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score
from typer.testing import CliRunner

from conftest import NEGATIVE, NEUTRAL, POSITIVE, read_rows, synthetic_rows, write_csv
from textcls.batching import TorchShuffler
from textcls.errors import ConfigError
from textcls.losses import LOSSES
from textcls.tasks.embedding import best_threshold, class_balanced_batches, neighbour_metrics


def loss_fn(name, **options):
    return LOSSES[name](**options).build(None, 0)


def dist(a, b, kind):
    if kind == "cosine":
        return 1 - (a @ b) / (a.norm() * b.norm())
    return (a - b).norm()


def test_contrastive_worked_example():
    # a = (0, 0), b = (3, 4): d = 5. Similar: d^2 = 25; dissimilar with margin 6: (6 - 5)^2 = 1; mean 13.
    pairs = torch.tensor([[[0.0, 0.0], [3.0, 4.0]], [[0.0, 0.0], [3.0, 4.0]]])
    assert float(loss_fn("contrastive", margin=6.0)(pairs, torch.tensor([1, 0]))) == pytest.approx(13.0)
    # beyond the margin a dissimilar pair costs nothing
    assert float(loss_fn("contrastive", margin=4.0)(pairs[1:], torch.tensor([0]))) == 0.0


@pytest.mark.parametrize("kind", ["euclidean", "cosine"])
def test_contrastive_and_triplet_equal_loops_values_and_gradients(kind):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(6, 3, 4, generator=g, dtype=torch.float64)
    similar = torch.tensor([1, 0, 1, 0, 0, 1])
    for name, margin in [("contrastive", 1.5), ("triplet", 0.4)]:
        got_x = x.clone().requires_grad_(True)
        if name == "contrastive":
            got = loss_fn(name, distance=kind, margin=margin)(got_x[:, :2], similar)
        else:
            got = loss_fn(name, distance=kind, margin=margin)(got_x)
        got.backward()
        ref_x = x.clone().requires_grad_(True)
        terms = []
        for e in range(6):
            if name == "contrastive":
                d = dist(ref_x[e, 0], ref_x[e, 1], kind)
                terms.append(d**2 if similar[e] else torch.clamp(margin - d, min=0) ** 2)
            else:
                terms.append(
                    torch.clamp(
                        dist(ref_x[e, 0], ref_x[e, 1], kind) - dist(ref_x[e, 0], ref_x[e, 2], kind) + margin, min=0
                    )
                )
        ref = torch.stack(terms).mean()
        ref.backward()
        torch.testing.assert_close(got, ref)
        torch.testing.assert_close(got_x.grad, ref_x.grad)


def reference_mined(x: torch.Tensor, labels: list[int], mining: str, margin: float, kind: str) -> torch.Tensor:
    """The mining rules written as loops over anchors, positives and negatives."""
    terms = []
    B = len(labels)
    for a in range(B):
        for p in range(B):
            if p == a or labels[p] != labels[a]:
                continue
            d_ap = dist(x[a], x[p], kind)
            negatives = [n for n in range(B) if labels[n] != labels[a]]
            if not negatives:
                continue
            d_an = {n: dist(x[a], x[n], kind) for n in negatives}
            if mining == "all":
                chosen = negatives
            else:
                hardest = min(negatives, key=lambda n: float(d_an[n].detach()))
                chosen = [hardest]
                if mining == "semihard":
                    inside = [
                        n
                        for n in negatives
                        if float(d_ap.detach()) < float(d_an[n].detach()) < float(d_ap.detach()) + margin
                    ]
                    if inside:
                        chosen = [min(inside, key=lambda n: float(d_an[n].detach()))]
            terms += [torch.clamp(d_ap - d_an[n] + margin, min=0) for n in chosen]
    return torch.stack(terms).mean()


@pytest.mark.parametrize("mining", ["all", "hard", "semihard"])
@pytest.mark.parametrize("kind", ["euclidean", "cosine"])
def test_mined_triplets_equal_loops_values_and_gradients(mining, kind):
    g = torch.Generator().manual_seed(1)
    x = torch.randn(9, 5, generator=g, dtype=torch.float64)
    labels = [0, 1, 0, 2, 1, 0, 2, 1, 1]
    margin = 0.5 if kind == "euclidean" else 0.2
    got_x = x.clone().requires_grad_(True)
    got = loss_fn("triplet", mining=mining, distance=kind, margin=margin)(got_x, torch.tensor(labels))
    got.backward()
    ref_x = x.clone().requires_grad_(True)
    ref = reference_mined(ref_x, labels, mining, margin, kind)
    ref.backward()
    torch.testing.assert_close(got, ref)
    torch.testing.assert_close(got_x.grad, ref_x.grad)


def test_semihard_worked_example_and_its_fallback():
    """On a line, margin 1, two sentences of class 0 and two negatives of classes of their own.
    Points 0, 1 (class 0) and 1.5, 3: anchor 0 / positive 1 (d = 1): the semi-hard negative is
    1.5 (1 < 1.5 < 2), loss 1 - 1.5 + 1 = 0.5; anchor 1 / positive 0 (d = 1): negatives at 0.5
    and 2, none strictly inside (1, 2), so the hardest, 0.5: loss 1.5. Mean 1.0."""
    labels = torch.tensor([0, 0, 1, 2])
    semihard = loss_fn("triplet", mining="semihard", margin=1.0)
    assert float(semihard(torch.tensor([[0.0], [1.0], [1.5], [3.0]]), labels)) == pytest.approx(1.0)
    # Points 0, 2 (class 0) and 1.5, 3: anchor 0 (d_ap = 2): negatives at 1.5 and 3, none inside
    # (2, 3): the hardest, 1.5: loss 1.5; anchor 2: negatives at 0.5 and 1: the hardest: loss 2.5.
    assert float(semihard(torch.tensor([[0.0], [2.0], [1.5], [3.0]]), labels)) == pytest.approx(2.0)


def test_batch_without_a_triplet_is_zero_with_the_graph_kept():
    x = torch.randn(3, 2, requires_grad=True)
    loss = loss_fn("triplet", mining="hard")(x, torch.tensor([0, 1, 2]))  # no positive for any anchor
    loss.backward()
    assert float(loss.detach()) == 0 and torch.equal(x.grad, torch.zeros(3, 2))


def test_class_balanced_batches_hold_P_classes_of_K_rows():
    labels = np.array([0] * 10 + [1] * 3 + [2] * 7 + [3] * 12)
    batches = class_balanced_batches(labels, P=3, K=4, shuffler=TorchShuffler(torch.Generator().manual_seed(0)))
    assert len(batches) == len(labels) // 12
    for batch in batches:
        classes, counts = np.unique(labels[batch], return_counts=True)
        assert len(classes) == 3 and (counts == 4).all()
        for c in classes:  # without replacement where the class has K rows
            rows = batch[labels[batch] == c]
            assert len(set(rows.tolist())) == (4 if (labels == c).sum() >= 4 else len(set(rows.tolist())))


def test_best_threshold_is_the_best_of_brute_force():
    rng = np.random.default_rng(0)
    sims = np.round(rng.normal(size=80), 1)
    similar = rng.random(80) < 1 / (1 + np.exp(-2 * sims))
    t = best_threshold(sims, similar)
    accuracy = lambda th: ((sims >= th) == similar).mean()
    assert accuracy(t) == max(accuracy(th) for th in np.concatenate([sims, [sims.max() + 1]]))


def test_neighbour_metrics_against_a_loop():
    rng = np.random.default_rng(3)
    ref, ref_labels = rng.normal(size=(40, 3)), rng.integers(0, 3, 40)
    x, labels = rng.normal(size=(15, 3)), rng.integers(0, 3, 15)
    got = neighbour_metrics(x, labels, ref, ref_labels, "euclidean", same_set=False)
    r1 = r5 = knn = 0
    for q, y in zip(x, labels):
        order = np.argsort(np.linalg.norm(ref - q, axis=1), kind="stable")
        r1 += ref_labels[order[0]] == y
        r5 += y in ref_labels[order[:5]]
        votes = {c: (ref_labels[order[:10]] == c).sum() for c in set(ref_labels[order[:10]])}
        best = max(votes.values())
        knn += next(c for c in ref_labels[order[:10]] if votes[c] == best) == y  # ties: the nearer class
    assert got == pytest.approx({"recall_at_1": r1 / 15, "recall_at_5": r5 / 15, "knn_accuracy": knn / 15})
    # within one set a row is never its own neighbour
    alone = neighbour_metrics(ref, ref_labels, ref, ref_labels, "euclidean", same_set=True)
    assert alone["recall_at_1"] < 1.0


# --- the task end to end ------------------------------------------------------------------------------

CLASSES = {"neg": NEGATIVE, "neu": NEUTRAL, "pos": POSITIVE}


@pytest.fixture
def embedding_csvs(tmp_path) -> dict:
    paths = {}
    for split, n, seed in [("train", 240, 1), ("valid", 60, 2), ("test", 60, 3)]:
        rows = synthetic_rows(n, seed, CLASSES)
        rng = random.Random(seed)
        paths[split] = write_csv(tmp_path / f"{split}.csv", ["text", "label"], rows)
        pairs = [[a, b, "same" if la == lb else "other"] for (a, la), (b, lb) in zip(rows, rng.sample(rows, len(rows)))]
        paths[f"pairs_{split}"] = write_csv(tmp_path / f"pairs_{split}.csv", ["text", "other", "relation"], pairs)
        triplets = [
            [a, rng.choice([r for r, lr in rows if lr == la]), rng.choice([r for r, lr in rows if lr != la])]
            for a, la in rows
        ]
        paths[f"triplets_{split}"] = write_csv(tmp_path / f"triplets_{split}.csv", ["a", "p", "n"], triplets)
    return paths


def files(csvs, prefix=""):
    return {split: csvs[prefix + split] for split in ("train", "valid", "test")}


@pytest.mark.slow
def test_class_labels_with_mined_triplets(make_config, embedding_csvs, tmp_path):
    from textcls.checkpoint import load_run
    from textcls.predict import embed_texts, evaluate_file
    from textcls.train import train

    config = make_config(
        files(embedding_csvs),
        task="embedding",
        loss={"name": "triplet", "mining": "semihard", "margin": 0.5},
        train={"epochs": 4, "classes_per_batch": 3, "per_class": 8, "monitor": "recall_at_1"},
    )
    run = load_run(train(config, out=tmp_path / "run").run_dir)
    assert run.labels == ["neg", "neu", "pos"]
    metrics = evaluate_file(run, embedding_csvs["test"])
    assert metrics["recall_at_1"] > 0.9 and metrics["rows"] == 60
    # recall@1 against the training sentences, recomputed from the embeddings the CLI would write
    train_rows, test_rows = read_rows(embedding_csvs["train"]), read_rows(embedding_csvs["test"])
    ref, queries = embed_texts(run, [r["text"] for r in train_rows]), embed_texts(run, [r["text"] for r in test_rows])
    nearest = np.argmin(((queries[:, None] - ref[None]) ** 2).sum(-1), axis=1)
    expected = np.mean([train_rows[j]["label"] == r["label"] for j, r in zip(nearest, test_rows)])
    assert metrics["recall_at_1"] == pytest.approx(expected)


@pytest.mark.slow
def test_pairs_with_contrastive_loss_and_the_cli(make_config, embedding_csvs, tmp_path):
    import yaml

    from textcls.checkpoint import load_run
    from textcls.cli import app
    from textcls.predict import evaluate_file, similarities

    config = make_config(
        files(embedding_csvs, "pairs_"),
        task="embedding",
        data={"text_pair_column": "other", "label_column": "relation", "similar_label": "same"},
        model={"normalize": True},
        loss={"name": "contrastive", "distance": "cosine", "margin": 0.5},
        train={"epochs": 5, "monitor": "roc_auc"},
    )
    path = tmp_path / "pairs.yaml"
    path.write_text(yaml.safe_dump(config.to_dict()))
    runner = CliRunner()
    assert runner.invoke(app, ["train", "-c", str(path), "-o", str(tmp_path / "run"), "-q"]).exit_code == 0
    run = load_run(tmp_path / "run")
    metrics = evaluate_file(run, embedding_csvs["pairs_test"])
    rows = read_rows(embedding_csvs["pairs_test"])
    sims = similarities(run, [r["text"] for r in rows], [r["other"] for r in rows])
    same = np.array([r["relation"] == "same" for r in rows])
    assert metrics["roc_auc"] == pytest.approx(roc_auc_score(same, sims)) and metrics["roc_auc"] > 0.9
    # the threshold was tuned on validation (the same one the final metrics saved) and applied here
    saved = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert (
        metrics["threshold"] == pytest.approx(saved["test"]["threshold"]) == pytest.approx(saved["valid"]["threshold"])
    )
    assert json.loads((tmp_path / "run" / "task.json").read_text())["threshold"] == pytest.approx(metrics["threshold"])
    valid = read_rows(embedding_csvs["pairs_valid"])
    valid_sims = similarities(run, [r["text"] for r in valid], [r["other"] for r in valid])
    assert metrics["threshold"] == pytest.approx(
        best_threshold(valid_sims, np.array([r["relation"] == "same" for r in valid]))
    )
    assert metrics["accuracy"] == pytest.approx(((sims >= metrics["threshold"]) == same).mean())
    # embed and similarity from the CLI
    lines = tmp_path / "lines.txt"
    lines.write_text("a lovely film\nthe plot was dull\n")
    assert (
        runner.invoke(
            app, ["embed", str(tmp_path / "run"), "--file", str(lines), "-o", str(tmp_path / "v.npy")]
        ).exit_code
        == 0
    )
    vectors = np.load(tmp_path / "v.npy")
    assert vectors.shape == (2, 16) and np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)  # model.normalize
    out = runner.invoke(
        app, ["embed", str(tmp_path / "run"), "--file", str(lines), "-o", str(tmp_path / "v.jsonl"), "-f", "jsonl"]
    )
    assert out.exit_code == 0
    records = [json.loads(line) for line in (tmp_path / "v.jsonl").read_text().splitlines()]
    assert [r["text"] for r in records] == ["a lovely film", "the plot was dull"]
    assert np.allclose([r["embedding"] for r in records], vectors, atol=1e-6)
    pair = runner.invoke(app, ["similarity", str(tmp_path / "run"), "a lovely film", "the plot was dull", "-f", "json"])
    assert json.loads(pair.output)["similarity"] == pytest.approx(float(vectors[0] @ vectors[1]), abs=1e-5)
    listed = runner.invoke(
        app, ["similarity", str(tmp_path / "run"), "--pairs", str(embedding_csvs["pairs_test"]), "-f", "json"]
    )
    assert [json.loads(line)["similarity"] for line in listed.output.splitlines()] == pytest.approx(
        sims.tolist(), abs=1e-5
    )


@pytest.mark.slow
def test_explicit_triplets(make_config, embedding_csvs, tmp_path):
    from textcls.checkpoint import load_run
    from textcls.predict import embed_texts, evaluate_file, predict_texts
    from textcls.train import train

    config = make_config(
        files(embedding_csvs, "triplets_"),
        task="embedding",
        data={"anchor_column": "a", "positive_column": "p", "negative_column": "n"},
        loss={"name": "triplet", "margin": 0.5},
        train={"epochs": 4},
    )
    run = load_run(train(config, out=tmp_path / "run").run_dir)
    metrics = evaluate_file(run, embedding_csvs["triplets_test"])
    rows = read_rows(embedding_csvs["triplets_test"])
    a, p, n = (embed_texts(run, [r[c] for r in rows]) for c in "apn")
    right = np.linalg.norm(a - p, axis=1) < np.linalg.norm(a - n, axis=1)
    assert metrics["triplet_accuracy"] == pytest.approx(right.mean()) and metrics["triplet_accuracy"] > 0.85
    assert metrics["rows"] == 60
    (result,) = predict_texts(run, ["a lovely film"])
    assert np.allclose(result["embedding"], embed_texts(run, ["a lovely film"])[0], atol=1e-5)


def test_config_errors(make_config, embedding_csvs, tmp_path):
    from textcls.train import train

    with pytest.raises(ConfigError, match="loss.name 'contrastive' does not fit triplets or class labels"):
        train(make_config(files(embedding_csvs), task="embedding", loss={"name": "contrastive"}), out=tmp_path / "a")
    with pytest.raises(ConfigError, match="classes_per_batch"):
        train(
            make_config(
                files(embedding_csvs, "pairs_"),
                task="embedding",
                data={"text_pair_column": "other", "label_column": "relation", "similar_label": "same"},
                train={"classes_per_batch": 2, "per_class": 4},
            ),
            out=tmp_path / "b",
        )
    with pytest.raises(ConfigError, match="loss.mining does not apply to loss 'contrastive'"):
        train(
            make_config(
                files(embedding_csvs, "pairs_"),
                task="embedding",
                data={"text_pair_column": "other", "label_column": "relation", "similar_label": "same"},
                loss={"name": "contrastive", "mining": "hard"},
            ),
            out=tmp_path / "c",
        )
    with pytest.raises(
        ConfigError, match="train.classes_per_batch is read by task 'embedding', not by 'classification'"
    ):
        train(make_config(train={"classes_per_batch": 2, "per_class": 4}), out=tmp_path / "d")
    with pytest.raises(ConfigError, match="model.normalize is read by task 'embedding', not by 'classification'"):
        train(make_config(model={"normalize": True}), out=tmp_path / "e")
    assert not any((tmp_path / d).exists() for d in "abcde")


def test_embed_from_a_classifier_and_errors(make_config, tmp_path):
    from textcls.cli import app
    from textcls.train import train

    run = train(make_config(train={"epochs": 1}), out=tmp_path / "run").run_dir
    lines = tmp_path / "lines.txt"
    lines.write_text("a good film\n")
    result = CliRunner().invoke(app, ["embed", str(run), "--file", str(lines), "-o", str(tmp_path / "v.npy")])
    assert result.exit_code == 0 and np.load(tmp_path / "v.npy").shape == (1, 16)  # any sentence model embeds
    missing = CliRunner().invoke(app, ["similarity", str(run), "only one"])
    assert missing.exit_code == 1 and "two sentences" in missing.output


@pytest.mark.slow
def test_shipped_genre_config_trains_from_the_cli(train_shipped):
    assert (
        train_shipped("configs/genre_embedding.yaml", epochs=1)["recall_at_1"] > 1 / 15
    )  # above chance after one epoch


def test_pairs_need_the_similar_label_and_whole_cells(make_config, embedding_csvs, tmp_path):
    from textcls.errors import DataError
    from textcls.train import train

    with pytest.raises(DataError, match=r"no row of column 'relation' says similar \(data.similar_label: '1'\)"):
        train(
            make_config(
                files(embedding_csvs, "pairs_"),
                task="embedding",
                data={"text_pair_column": "other", "label_column": "relation"},
            ),
            out=tmp_path / "a",
        )
    run = train(
        make_config(
            files(embedding_csvs, "pairs_"),
            task="embedding",
            train={"epochs": 1},
            data={"text_pair_column": "other", "label_column": "relation", "similar_label": "same"},
        ),
        out=tmp_path / "b",
    ).run_dir
    from textcls.cli import app

    bad = write_csv(tmp_path / "pairs.csv", ["a", "b"], [["a good film", "a fine film"], ["a dull film", "  "]])
    result = CliRunner().invoke(app, ["similarity", str(run), "--pairs", str(bad)])
    assert result.exit_code == 1 and "pairs.csv, row 2, column 'b': empty text" in result.output


def test_options_that_would_be_ignored_are_errors(make_config, embedding_csvs, tmp_path):
    from textcls.train import train

    triplets = {"anchor_column": "a", "positive_column": "p", "negative_column": "n"}
    with pytest.raises(ConfigError, match="loss.mining chooses triplets among class labels"):
        train(
            make_config(
                files(embedding_csvs, "triplets_"),
                task="embedding",
                data=triplets,
                loss={"name": "triplet", "mining": "hard"},
            ),
            out=tmp_path / "a",
        )
    with pytest.raises(ConfigError, match="train.faithfulness .* task 'embedding' has none"):
        train(make_config(files(embedding_csvs), task="embedding", train={"faithfulness": True}), out=tmp_path / "b")
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
