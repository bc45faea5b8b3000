"""Training with torchrun: two processes on gloo take the steps one process takes on the same global batches."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file

from conftest import checkpoint_weights, small_config_dict

ROOT = Path(__file__).resolve().parents[1]


def run(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "MASTER_ADDR": "127.0.0.1", "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=240)


def torchrun_train(cwd: Path, *args) -> subprocess.CompletedProcess:
    """`textcls train ARGS` as 2 torchrun processes on this machine."""
    torchrun = ["-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
    return run([*torchrun, "-m", "textcls", "train", *map(str, args)], cwd)


@pytest.mark.parametrize(
    "model",
    [
        {"type": "bow", "word_ngrams": 2, "char_ngrams": [2, 3]},
        {"type": "lstm", "embedding_dim": 8, "hidden_dim": 8, "pooling": "mean"},
    ],
)
def test_two_gloo_processes_match_one(model, tmp_path, sentiment_csvs):
    # (mean pooling: an attention bias gets a zero gradient, which Adam turns into steps of float noise)
    raw = small_config_dict(
        sentiment_csvs,
        tmp_path / "runs",
        model={**model, "dropout": 0.0},
        train={"epochs": 2, "batch_size": 16, "threads": 1},
    )
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump(raw))
    one = run(["-m", "textcls", "train", "-c", str(config), "-o", str(tmp_path / "one"), "-q"], tmp_path)
    assert one.returncode == 0, one.stderr
    two = torchrun_train(tmp_path, "-c", config, "-o", tmp_path / "two", "-q")
    assert two.returncode == 0, two.stderr[-3000:]
    assert two.stdout.strip() == str(tmp_path / "two")  # one run folder, printed once
    assert [p.name for p in (tmp_path / "runs").iterdir()] == [".cache"]  # no other run folder; the token cache
    assert json.loads((tmp_path / "two" / "model.json").read_text())["processes"] == 2
    a, b = (load_file(str(checkpoint_weights(tmp_path / name, "last"))) for name in ("one", "two"))
    assert a.keys() == b.keys()
    for key in a:  # the same steps, up to the order floats were summed in
        torch.testing.assert_close(a[key], b[key], atol=2e-5, rtol=1e-4)
    logs = [
        [json.loads(line) for line in (tmp_path / name / "metrics.jsonl").read_text().splitlines()]
        for name in ("one", "two")
    ]
    assert [r["epoch"] for r in logs[1]] == [1, 2]
    for r1, r2 in zip(*logs):
        assert r2["train_loss"] == pytest.approx(r1["train_loss"], rel=1e-4)
        assert r2["valid_accuracy"] == r1["valid_accuracy"]


def test_hogwild_with_torchrun_is_a_one_line_error(tmp_path, sentiment_csvs):
    raw = small_config_dict(
        sentiment_csvs,
        tmp_path / "runs",
        optim={"name": "sgd_linear", "lr": 0.1},
        train={"hogwild": True, "threads": 2},
    )
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump(raw))
    two = torchrun_train(tmp_path, "-c", config, "-o", tmp_path / "two", "-q")
    assert two.returncode != 0
    assert "train.hogwild and torchrun's processes are two ways of sharing the work" in two.stderr
    assert (
        str(ROOT / "textcls") not in two.stderr
    )  # no traceback through textcls (torchrun reports the failed ranks its own way)


def test_a_torchrun_run_resumes_with_as_many_processes(tmp_path, sentiment_csvs):
    raw = small_config_dict(
        sentiment_csvs,
        tmp_path / "runs",
        model={"type": "bow", "dropout": 0.0},
        optim={"name": "adamw", "lr": 0.05, "schedule": "constant"},
        train={"epochs": 1, "batch_size": 16, "threads": 1},
    )
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump(raw))
    first = torchrun_train(tmp_path, "-c", config, "-o", tmp_path / "two", "-q")
    assert first.returncode == 0, first.stderr[-3000:]
    alone = run(
        ["-m", "textcls", "train", "--resume", str(tmp_path / "two"), "--set", "train.epochs=2", "-q"], tmp_path
    )
    assert alone.returncode == 1 and "Traceback" not in alone.stderr
    assert "trained by 2 process(es)" in alone.stderr and len(alone.stderr.strip().splitlines()) == 1
    resumed = torchrun_train(tmp_path, "--resume", tmp_path / "two", "--set", "train.epochs=2", "-q")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert resumed.stdout.strip() == str(tmp_path / "two")  # printed once: only rank 0 writes
    assert [json.loads(line)["epoch"] for line in (tmp_path / "two" / "metrics.jsonl").read_text().splitlines()] == [
        1,
        2,
    ]
    assert json.loads((checkpoint_weights(tmp_path / "two", "last").parent / "info.json").read_text())["epoch"] == 2


def compiled_config(tmp_path: Path, sentiment_csvs, **train) -> Path:
    raw = small_config_dict(
        sentiment_csvs,
        tmp_path / "runs",
        model={"type": "bow", "word_ngrams": 2, "buckets": 101, "dropout": 0.0, "word_dropout": 0.2},
        optim={"name": "adagrad", "lr": 0.1},
        train={"epochs": 2, "batch_size": 16, "threads": 1, "engine": "compiled", "average_every": 40, **train},
    )
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump(raw))
    return config


def averaged_by_hand(config_path: Path) -> dict:
    """The two processes' training written out in one process: the steps' rows shared out (rows
    rank, rank + 2, ...), each process's kernel on its share (its own examples numbered from 0, its
    own random stream), and the weights and AdaGrad sums replaced by the two processes' mean once
    each process has trained 40 examples since the last mean, and at the end of each epoch."""

    from textcls.batching import TorchShuffler
    from textcls.config import load_config
    from textcls.engine import bow as engine
    from textcls.engine.trainer import KernelOptimizer, example_batches, kernel_loss
    from textcls.train import build, seed_everything

    config = load_config(config_path)
    seed_everything(config.train.seed)
    setup = build(config, torch.device("cpu"), None, None)
    items, model, B = setup.train_items, setup.model, config.train.batch_size
    start = [p.detach().numpy() for p in (model.embedding.weight, model.token_head.weight, model.bias)]
    shape = (start[0].shape[0], start[1].shape[0], start[0].shape[1])
    loss = kernel_loss(setup.loss, setup.task.label_counts(items), len(setup.featurizer.labels), 0.0, None)
    rngs = engine.seeded(config.train.seed, 2)
    ranks = []
    for rank in range(2):
        weights = [a.copy() for a in start]
        optimizer = KernelOptimizer(config.optim, B, shape)
        optimizer.settings.total = config.train.epochs * len(items) // 2  # (each process's examples)
        update = engine.Updater(
            engine.Inputs.of(items),
            *weights,
            loss,
            optimizer.settings,
            0.0,
            0.2,
            rngs[rank : rank + 1].copy(),
            1,
            False,
            optimizer.accumulators,
        )
        ranks.append((weights, optimizer.accumulators, update))
    generator = torch.Generator().manual_seed(config.train.seed)

    def average():
        for arrays in zip(*[(*w, *acc) for w, acc, _ in ranks]):
            mean = (arrays[0] + arrays[1]) / 2
            for a in arrays:
                a[...] = mean

    for epoch in range(config.train.epochs):
        batches = example_batches(items, B, TorchShuffler(generator))
        since = 0
        for i, rows in enumerate(batches):
            for rank, (_, _, update) in enumerate(ranks):
                update(rows[rank::2], (epoch * len(items) + i * B) // 2)
            since += len(rows[0::2])
            if since >= 40 or i + 1 == len(batches):
                average()
                since = 0
    return dict(zip(["embedding.weight", "token_head.weight", "bias"], ranks[0][0]))


def test_the_compiled_engine_averages_the_processes_weights(tmp_path, sentiment_csvs):
    config = compiled_config(tmp_path, sentiment_csvs)
    two = torchrun_train(tmp_path, "-c", config, "-o", tmp_path / "two", "-q")
    assert two.returncode == 0, two.stderr[-3000:]
    assert json.loads((tmp_path / "two" / "model.json").read_text())["engine"] == "compiled"
    trained = load_file(str(checkpoint_weights(tmp_path / "two", "last")))
    for name, expected in averaged_by_hand(config).items():
        torch.testing.assert_close(trained[name].numpy(), expected, atol=1e-6, rtol=1e-5)


def test_the_compiled_engine_resumes_under_torchrun_as_it_would_have_gone_on(tmp_path, sentiment_csvs):
    config = compiled_config(tmp_path, sentiment_csvs, epochs=3)
    straight = torchrun_train(tmp_path, "-c", config, "-o", tmp_path / "straight", "-q")
    assert straight.returncode == 0, straight.stderr[-3000:]
    # (a run stopped after its second epoch, as a signal under torchrun leaves it: `last` of epoch 2)
    cut = torchrun_train(tmp_path, "-c", config, "-o", tmp_path / "cut", "-q", "--set", "train.epochs=2")
    assert cut.returncode == 0, cut.stderr[-3000:]
    resumed = torchrun_train(tmp_path, "--resume", tmp_path / "cut", "--set", "train.epochs=3", "-q")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    a, b = (load_file(str(checkpoint_weights(tmp_path / name, "last"))) for name in ("straight", "cut"))
    for key in a:
        torch.testing.assert_close(a[key], b[key], atol=0, rtol=0)
