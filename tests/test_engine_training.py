"""Training with the compiled engine (train.engine: compiled): it learns, it is reproducible, it
resumes bit for bit (between epochs and within one), and what it does not train is one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from test_resume import Crash, assert_same_run, crash_after_epoch, crash_after_saving_step

from conftest import checkpoint_weights
from textcls import train as train_module
from textcls.errors import ConfigError
from textcls.resume import saved_config
from textcls.train import train

COMPILED = {
    "model": {"type": "bow", "embedding_dim": 8, "dropout": 0.3, "word_dropout": 0.1, "word_ngrams": 2, "buckets": 101},
    "optim": {"name": "sgd_linear", "lr": 0.2},
    "train": {"epochs": 4, "batch_size": 16, "engine": "compiled"},
}

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def compiled_config(make_config):
    return make_config(**COMPILED)


def test_the_compiled_engine_learns_and_says_so_in_model_json(tmp_path, compiled_config):
    result = train(compiled_config, out=tmp_path / "run")
    assert result.metrics["test"]["accuracy"] >= 0.9  # the synthetic words decide the class
    assert json.loads((tmp_path / "run" / "model.json").read_text())["engine"] == "compiled"
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert records[0]["train_loss"] > records[-1]["train_loss"]


def test_auto_trains_what_the_kernel_cannot_on_torch(tmp_path, make_config):
    train(make_config(train={"epochs": 1}), out=tmp_path / "run")
    assert json.loads((tmp_path / "run" / "model.json").read_text())["engine"] == "torch"


def test_the_same_seed_gives_the_same_weights_and_another_does_not(tmp_path, make_config, compiled_config):
    a = train(compiled_config, out=tmp_path / "a").run_dir
    b = train(compiled_config, out=tmp_path / "b").run_dir
    assert_same_run(a, b)
    other = make_config(**{**COMPILED, "train": {**COMPILED["train"], "seed": 1}})
    c = train(other, out=tmp_path / "c").run_dir
    wa, wc = load_file(str(checkpoint_weights(a, "last"))), load_file(str(checkpoint_weights(c, "last")))
    assert not torch.equal(wa["embedding.weight"], wc["embedding.weight"])


def test_a_resume_after_epoch_two_of_four_is_exact(tmp_path, compiled_config):
    straight = train(compiled_config, out=tmp_path / "straight").run_dir
    with pytest.raises(Crash):
        train(compiled_config, out=tmp_path / "resumed", after_epoch=crash_after_epoch(2))
    train(resume=tmp_path / "resumed")
    assert_same_run(straight, tmp_path / "resumed")  # (the kernel's dropout draws were saved with `last`)


def test_a_resume_within_an_epoch_is_exact(tmp_path, make_config, monkeypatch):
    """13 steps an epoch (200 rows, 16 a step), `last` every 5 steps; the crash comes after step 20's checkpoint."""
    config = make_config(**{**COMPILED, "train": {**COMPILED["train"], "epochs": 3, "checkpoint_every": 5}})
    straight = train(config, out=tmp_path / "straight").run_dir
    monkeypatch.setattr(train_module, "save_checkpoint", crash_after_saving_step(20))
    with pytest.raises(Crash):
        train(config, out=tmp_path / "resumed")
    monkeypatch.undo()
    train(resume=tmp_path / "resumed")
    assert_same_run(straight, tmp_path / "resumed")


@pytest.mark.parametrize(
    "change, fragment",
    [
        ({"model": {"type": "lstm", "embedding_dim": 8, "hidden_dim": 8}}, "model.type is lstm"),
        ({"optim": {"name": "adamw", "lr": 0.01}}, "optim.name is adamw"),
        ({"loss": {"name": "focal"}}, "loss focal"),
        ({"model": {**COMPILED["model"], "char_encoder": "cnn"}}, "model.char_encoder is cnn"),
        (
            {"model": {**COMPILED["model"], "lexicon_features": [str(REPO / "data" / "lexicons" / "vader.csv")]}},
            "model.lexicon_features is set",
        ),
    ],
)
def test_a_config_the_kernel_does_not_train_is_one_line(tmp_path, make_config, change, fragment):
    with pytest.raises(ConfigError, match="train.engine compiled cannot train this config") as info:
        train(make_config(**{**COMPILED, **change}), out=tmp_path / "run")
    assert fragment in str(info.value) and "\n" not in str(info.value)


def test_two_threads_resume_exactly_and_refuse_another_thread_count(tmp_path, make_config):
    config = make_config(**{**COMPILED, "train": {**COMPILED["train"], "threads": 2}})
    straight = train(config, out=tmp_path / "straight").run_dir
    with pytest.raises(Crash):
        train(config, out=tmp_path / "resumed", after_epoch=crash_after_epoch(2))
    with pytest.raises(ConfigError, match="trained on 2 kernel thread.*train.threads=2"):
        train(saved_config(tmp_path / "resumed", ["train.threads=1"]), resume=tmp_path / "resumed")
    train(resume=tmp_path / "resumed")
    assert_same_run(straight, tmp_path / "resumed")


def test_hogwild_threads_learn_and_end_with_the_training(tmp_path, make_config):
    import threading

    config = make_config(**{**COMPILED, "train": {**COMPILED["train"], "threads": 2, "hogwild": True}})
    result = train(config, out=tmp_path / "run")
    assert result.metrics["test"]["accuracy"] >= 0.9
    assert not [t for t in threading.enumerate() if t.name.startswith("textcls-kernel")]


def test_the_examples_of_a_run_are_numbered_once_each_for_the_schedule(tmp_path, compiled_config, monkeypatch):
    """The learning rate decays over the run's examples: every step's examples get the next numbers
    (an epoch's last, short step included), and the schedule ends at their count, where it is 0."""
    from textcls.engine import bow

    calls, totals = [], []
    real = bow.Updater.__call__

    def record(self, rows, first_step):
        calls.append((first_step, len(rows)))
        totals.append(self.optimizer.total)
        return real(self, rows, first_step)

    monkeypatch.setattr(bow.Updater, "__call__", record)
    config = compiled_config.model_copy(
        update={"train": compiled_config.train.model_copy(update={"batch_size": 48, "epochs": 3})}
    )
    train(config, out=tmp_path / "run")
    numbers = [first + i for first, n in calls for i in range(n)]
    assert numbers == list(range(len(numbers))) and set(totals) == {len(numbers)}
    assert len(numbers) % 3 == 0 and len(numbers) // 3 % 48 != 0  # (three epochs, each with a short last step)


def test_hogwild_threads_save_within_an_epoch(tmp_path, make_config, monkeypatch):
    """The kernel's threads return to Python every step, so checkpoint_every works with them (PyTorch's
    Hogwild processes save only at the end of an epoch: refused there, in one line)."""
    saved = []
    real = train_module.save_checkpoint
    monkeypatch.setattr(
        train_module,
        "save_checkpoint",
        lambda run_dir, names, model, info, state=None: (saved.append(info), real(run_dir, names, model, info, state))[
            1
        ],
    )
    sections = {**COMPILED, "train": {**COMPILED["train"], "threads": 2, "hogwild": True, "checkpoint_every": 5}}
    train(make_config(**sections), out=tmp_path / "run")
    assert any("batch" in info for info in saved)  # a `last` taken within an epoch
    torch_sections = {**sections, "train": {**sections["train"], "engine": "torch"}}
    with pytest.raises(ConfigError, match="PyTorch's train.hogwild processes cannot"):
        train(make_config(**torch_sections), out=tmp_path / "torch")


def test_a_run_resumes_on_the_engine_it_trained_on(tmp_path, make_config):
    """A run whose `auto` meant PyTorch (as before the kernel) is not continued by the kernel: one
    line saying which engine to set, and with it the resume is exact."""
    import yaml

    config = make_config(**{**COMPILED, "train": {**COMPILED["train"], "engine": "torch", "batch_size": 16}})
    straight = train(config, out=tmp_path / "straight").run_dir
    with pytest.raises(Crash):
        train(config, out=tmp_path / "resumed", after_epoch=crash_after_epoch(2))
    saved = tmp_path / "resumed" / "config.yaml"
    data = yaml.safe_load(saved.read_text())
    data["train"]["engine"] = "auto"  # what an older release wrote, where auto was PyTorch
    saved.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match="trained on the torch engine and would go on with the compiled one"):
        train(resume=tmp_path / "resumed")
    train(saved_config(tmp_path / "resumed", ["train.engine=torch"]), resume=tmp_path / "resumed")
    assert_same_run(straight, tmp_path / "resumed")
