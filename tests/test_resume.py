"""Resume: a run interrupted and resumed is bit for bit the run that was never interrupted.

The reference is the same config trained in one go; the comparisons are exact (torch.equal on every
weight, == on every logged number but the timings)."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file
from typer.testing import CliRunner

from conftest import checkpoint_weights
from textcls import train as train_module
from textcls.cli import app
from textcls.errors import Interrupted
from textcls.train import train
from textcls.trainer import NullReporter

TIMINGS = {"seconds", "tokens_per_second"}


class Crash(Exception):
    """Stands for the process dying (the run folder is left as a crash would leave it)."""


def crash_after_epoch(n: int):
    def after_epoch(epoch: int, record: dict) -> None:
        if epoch == n:
            raise Crash()

    return after_epoch


def crash_after_saving_step(step: int):
    """A save_checkpoint that saves, then crashes once the checkpoint of step `step` is saved."""
    real_save = train_module.save_checkpoint

    def save_then_crash(run_dir, names, model, info, state=None):
        real_save(run_dir, names, model, info, state)
        if info["step"] == step:
            raise Crash()

    return save_then_crash


def log(run: Path) -> list[dict]:
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if k not in TIMINGS} for r in records]


def assert_same_run(a: Path, b: Path) -> None:
    for name in ("best", "last"):
        wa, wb = load_file(str(checkpoint_weights(a, name))), load_file(str(checkpoint_weights(b, name)))
        assert wa.keys() == wb.keys()
        for key in wa:
            assert torch.equal(wa[key], wb[key]), (name, key)
    assert log(a) == log(b)
    assert json.loads((a / "metrics.json").read_text()) == json.loads((b / "metrics.json").read_text())


@pytest.fixture
def lstm_config(make_config):
    """Dropout and a decaying (linear) schedule, as the shipped configs: both must resume exactly."""
    return make_config(
        model={"type": "lstm", "embedding_dim": 8, "hidden_dim": 8, "dropout": 0.3},
        optim={"name": "adamw", "lr": 0.01, "schedule": "linear"},
        train={"epochs": 4},
    )


def test_resume_after_epoch_two_of_four_is_exact(tmp_path, lstm_config):
    straight = train(lstm_config, out=tmp_path / "straight").run_dir
    with pytest.raises(Crash):
        train(lstm_config, out=tmp_path / "resumed", after_epoch=crash_after_epoch(2))
    assert [r["epoch"] for r in log(tmp_path / "resumed")] == [1, 2]
    result = train(resume=tmp_path / "resumed")
    assert result.run_dir == tmp_path / "resumed"
    assert_same_run(straight, tmp_path / "resumed")


@pytest.mark.parametrize(
    "model",
    [
        {"type": "bow", "embedding_dim": 8, "dropout": 0.3, "word_ngrams": 2, "buckets": 101},
        {"type": "lstm", "embedding_dim": 8, "hidden_dim": 8, "dropout": 0.3},
    ],
)
def test_resume_mid_epoch_with_checkpoint_every_is_exact(tmp_path, make_config, monkeypatch, model):
    """13 batches an epoch, `last` every 5 steps; the crash comes after step 20's checkpoint (in epoch 2)."""
    config = make_config(
        model=model,
        optim={"name": "adamw", "lr": 0.01, "schedule": "linear"},
        train={"epochs": 3, "checkpoint_every": 5},
    )
    straight = train(config, out=tmp_path / "straight").run_dir
    real_save, saved_steps = train_module.save_checkpoint, []

    def save_then_crash(run_dir, names, model, info, state=None):
        real_save(run_dir, names, model, info, state)
        saved_steps.append(info["step"])
        if info["step"] == 20:
            raise Crash()

    monkeypatch.setattr(train_module, "save_checkpoint", save_then_crash)
    with pytest.raises(Crash):
        train(config, out=tmp_path / "resumed")
    assert saved_steps == [5, 10, 13, 15, 20]  # the mid-epoch checkpoints and epoch 1's
    last = json.loads((checkpoint_weights(tmp_path / "resumed", "last").parent / "info.json").read_text())
    assert (last["epoch"], last["batch"], last["step"]) == (1, 7, 20)
    monkeypatch.setattr(train_module, "save_checkpoint", real_save)
    train(resume=tmp_path / "resumed")
    assert_same_run(straight, tmp_path / "resumed")


def test_constant_schedule_extended_on_resume_equals_the_longer_run(tmp_path, make_config):
    config = make_config(
        optim={"name": "adamw", "lr": 0.01, "schedule": "constant"}, model={"dropout": 0.2}, train={"epochs": 2}
    )
    four = config.model_copy(update={"train": config.train.model_copy(update={"epochs": 4})})
    straight = train(four, out=tmp_path / "straight").run_dir
    train(config, out=tmp_path / "extended")
    result = CliRunner().invoke(app, ["train", "--resume", str(tmp_path / "extended"), "--set", "train.epochs=4", "-q"])
    assert result.exit_code == 0, result.output
    assert [r["epoch"] for r in log(tmp_path / "extended")] == [1, 2, 3, 4]
    assert yaml.safe_load((tmp_path / "extended" / "config.yaml").read_text())["train"]["epochs"] == 4
    assert_same_run(straight, tmp_path / "extended")


def test_a_signal_saves_last_mid_epoch_and_exits_with_the_resume_command(tmp_path, lstm_config):
    """SIGTERM during epoch 2: the step finishes, `last` is saved there, 143; the resume is exact."""
    straight = train(lstm_config, out=tmp_path / "straight").run_dir

    class TerminateAtEpochTwo(NullReporter):
        def start_epoch(self, epoch, epochs, steps):
            if epoch == 2:
                os.kill(os.getpid(), signal.SIGTERM)  # (handled: it only asks training to stop)

    with pytest.raises(Interrupted) as stopped:
        train(lstm_config, out=tmp_path / "stopped", reporter=TerminateAtEpochTwo())
    assert stopped.value.exit_code == 143
    assert f"textcls train --resume {tmp_path / 'stopped'}" in str(stopped.value)
    info = json.loads((checkpoint_weights(tmp_path / "stopped", "last").parent / "info.json").read_text())
    assert (info["epoch"], info["batch"]) == (1, 1)  # one step of epoch 2 was finished, then saved
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # the handler is gone with the training
    train(resume=tmp_path / "stopped")
    assert_same_run(straight, tmp_path / "stopped")


def test_a_signal_between_epochs_stops_there(tmp_path, make_config):
    def terminate(epoch: int, record: dict) -> None:
        if epoch == 1:
            os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(Interrupted) as stopped:
        train(make_config(train={"epochs": 3}), out=tmp_path / "run", after_epoch=terminate)
    assert stopped.value.exit_code == 130
    info = json.loads((checkpoint_weights(tmp_path / "run", "last").parent / "info.json").read_text())
    assert info["epoch"] == 1 and "batch" not in info
    assert [r["epoch"] for r in log(tmp_path / "run")] == [1]


def test_the_saved_state_holds_what_a_resume_checks_for(tmp_path, make_config):
    from textcls.checkpoint import load_training_state
    from textcls.trainer import STATE_KEYS

    run = train(make_config(train={"epochs": 1}), out=tmp_path / "run").run_dir
    assert set(load_training_state(run, "last")) == STATE_KEYS


def test_resuming_a_finished_run_has_nothing_to_do(tmp_path, make_config):
    run = train(make_config(train={"epochs": 2}), out=tmp_path / "run").run_dir
    before = {p: p.read_bytes() for p in run.rglob("*") if p.is_file() and p.name != ".lock"}
    result = CliRunner().invoke(app, ["train", "--resume", str(run)])
    assert result.exit_code == 0, result.output
    assert "nothing to do" in result.output
    assert {p: p.read_bytes() for p in run.rglob("*") if p.is_file() and p.name != ".lock"} == before


def test_resume_refuses_another_config_naming_the_fields(tmp_path, make_config):
    config = make_config(train={"epochs": 2})
    run = train(config, out=tmp_path / "run").run_dir
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config.to_dict()))
    result = CliRunner().invoke(
        app,
        [
            "train",
            "--resume",
            str(run),
            "-c",
            str(tmp_path / "c.yaml"),
            "--set",
            "optim.lr=0.5",
            "--set",
            "model.embedding_dim=4",
        ],
    )
    assert result.exit_code == 1 and "Traceback" not in result.output
    (line,) = [text for text in result.output.splitlines() if text.strip()]
    assert "model.embedding_dim" in line and "optim.lr" in line and "train.epochs" in line
    # The same config file (relative paths and all) resumes: only the differences count.
    ok = CliRunner().invoke(
        app, ["train", "--resume", str(run), "-c", str(tmp_path / "c.yaml"), "--set", "train.epochs=3", "-q"]
    )
    assert ok.exit_code == 0, ok.output
    assert [r["epoch"] for r in log(run)] == [1, 2, 3]


def test_resume_options_that_do_not_apply_are_one_line(tmp_path, make_config):
    run = train(make_config(train={"epochs": 1}), out=tmp_path / "run").run_dir
    for args, fragment in [
        (["--resume", str(run), "--out", str(tmp_path / "x")], "--out"),
        (["--resume", str(tmp_path)], "not a textcls run folder"),
        ([], "--config"),
    ]:
        result = CliRunner().invoke(app, ["train", *args])
        assert result.exit_code == 1 and "Traceback" not in result.output, result.output
        assert fragment in result.output


def on_disk(run: Path) -> list[dict]:
    """metrics.jsonl's complete lines, as a crash leaves them (a line cut short is not one)."""
    path = run / "metrics.jsonl"
    return [json.loads(line) for line in path.read_text().split("\n")[:-1]] if path.is_file() else []


def indexed_epochs(run: Path) -> set[int]:
    """The epochs whose end a checkpoint named by checkpoints/index.json holds (read from disk here)."""
    index = run / "checkpoints" / "index.json"
    infos = [
        json.loads((run / "checkpoints" / folder / "info.json").read_text())
        for folder in (json.loads(index.read_text()).values() if index.is_file() else [])
    ]
    return {info["epoch"] for info in infos if "batch" not in info}


def test_each_epoch_is_checkpointed_before_its_line_is_logged(tmp_path, make_config, monkeypatch):
    """At every moment a line of epoch e is in metrics.jsonl, index.json names a checkpoint of epoch e."""
    real_save, real_append, events = train_module.save_checkpoint, train_module.append_log, []

    def save_checkpoint(run_dir, names, model, info, state=None):
        assert info["epoch"] not in [r["epoch"] for r in on_disk(run_dir)]  # not logged yet
        real_save(run_dir, names, model, info, state)
        events.append(("checkpoint", info["epoch"]))

    def append_log(run_dir, record):
        assert record["epoch"] in indexed_epochs(run_dir)  # before the line exists ...
        real_append(run_dir, record)
        assert [r["epoch"] for r in on_disk(run_dir)] == list(range(1, record["epoch"] + 1))
        assert record["epoch"] in indexed_epochs(run_dir)  # ... and once it does
        events.append(("log", record["epoch"]))

    monkeypatch.setattr(train_module, "save_checkpoint", save_checkpoint)
    monkeypatch.setattr(train_module, "append_log", append_log)
    train(make_config(train={"epochs": 3}), out=tmp_path / "run")
    assert events == [("checkpoint", 1), ("log", 1), ("checkpoint", 2), ("log", 2), ("checkpoint", 3), ("log", 3)]


@pytest.mark.parametrize("epoch", [1, 2])
def test_a_crash_between_checkpoint_and_log_line_resumes_with_the_line_from_the_checkpoint(
    tmp_path, make_config, monkeypatch, epoch
):
    """The process dies while writing epoch `epoch`'s line (half of it is written), its checkpoint
    saved: the run loads, and the resume logs that epoch from its checkpoint, then goes on exactly."""
    config = make_config(train={"epochs": 3})
    straight = train(config, out=tmp_path / "straight").run_dir
    real_append = train_module.append_log

    def crash_in_the_line(run_dir, record):
        if record["epoch"] == epoch:
            with open(run_dir / "metrics.jsonl", "a") as f:
                f.write('{"epoch": %d, "train_lo' % epoch)
            raise Crash()
        real_append(run_dir, record)

    monkeypatch.setattr(train_module, "append_log", crash_in_the_line)
    with pytest.raises(Crash):
        train(config, out=tmp_path / "run")
    run = tmp_path / "run"
    assert [r["epoch"] for r in on_disk(run)] == list(range(1, epoch))
    best = json.loads((checkpoint_weights(run, "best").parent / "info.json").read_text())
    last = json.loads((checkpoint_weights(run, "last").parent / "info.json").read_text())
    assert last["epoch"] == epoch and best["epoch"] <= epoch  # (epoch 1: no line at all, and a best to load)
    result = CliRunner().invoke(app, ["eval", str(run), str(config.data.valid)])
    assert result.exit_code == 0, result.output

    monkeypatch.setattr(train_module, "append_log", real_append)
    train(resume=run)
    assert [r["epoch"] for r in log(run)] == [1, 2, 3]
    assert_same_run(straight, run)  # each line as the straight run's (but for the timings)
    # The lost line is the record epoch `epoch` kept, timings and all: it was not trained again.
    assert json.loads((run / "metrics.jsonl").read_text().splitlines()[epoch - 1]) == last["record"]


def test_a_run_logged_before_its_checkpoints_resumes_with_each_epoch_once(tmp_path, make_config, monkeypatch):
    """A run folder of the earlier order: each line logged before its checkpoint, whose info.json
    keeps no record. A crash after epoch 2's line, before its checkpoint, and a line of epoch 3 cut
    short: the resume starts from epoch 1's checkpoint, and keeps each epoch once."""
    config = make_config(train={"epochs": 3})
    straight = train(config, out=tmp_path / "straight").run_dir
    real_save = train_module.save_checkpoint

    def log_then_save_without_record(run_dir, names, model, info, state=None):
        with open(run_dir / "metrics.jsonl", "a") as f:
            f.write(json.dumps(info["record"]) + "\n")
        if info["epoch"] == 2:
            raise Crash()  # epoch 2 is in metrics.jsonl, not in a checkpoint
        real_save(run_dir, names, model, {k: v for k, v in info.items() if k != "record"}, state)

    monkeypatch.setattr(train_module, "save_checkpoint", log_then_save_without_record)
    monkeypatch.setattr(train_module, "append_log", lambda run_dir, record: None)
    with pytest.raises(Crash):
        train(config, out=tmp_path / "run")
    with open(tmp_path / "run" / "metrics.jsonl", "a") as f:
        f.write('{"epoch": 3, "train_lo')  # and a line cut short
    assert "record" not in json.loads((checkpoint_weights(tmp_path / "run", "last").parent / "info.json").read_text())
    monkeypatch.undo()
    train(resume=tmp_path / "run")
    assert [r["epoch"] for r in log(tmp_path / "run")] == [1, 2, 3]
    assert_same_run(straight, tmp_path / "run")


def test_a_lost_line_that_no_checkpoint_keeps_is_said_and_training_goes_on(tmp_path, make_config, monkeypatch):
    """`last` saved within epoch 2 keeps no record; epoch 1's line is gone (lost by hand, or with a
    disk): the resume says so in one note, and logs epochs 2 and 3."""
    config = make_config(train={"epochs": 3, "checkpoint_every": 5})
    monkeypatch.setattr(train_module, "save_checkpoint", crash_after_saving_step(20))
    with pytest.raises(Crash):
        train(config, out=tmp_path / "run")
    monkeypatch.undo()
    run = tmp_path / "run"
    assert [r["epoch"] for r in on_disk(run)] == [1]
    (run / "metrics.jsonl").write_text("")

    class Notes(NullReporter):
        def __init__(self):
            self.notes = []

        def note(self, text):
            self.notes.append(text)

    reporter = Notes()
    train(resume=run, reporter=reporter)
    assert [n for n in reporter.notes if not n.startswith("engine: ")] == [
        f"{run / 'metrics.jsonl'}: no line for epoch(s) 1, and no checkpoint keeps theirs: the log goes on without them"
    ]
    assert [r["epoch"] for r in log(run)] == [2, 3]


def test_a_second_signal_stops_at_once_keeping_the_checkpoints_saved_before(tmp_path, make_config):
    class TerminateTwiceAtEpochTwo(NullReporter):
        def start_epoch(self, epoch, epochs, steps):
            if epoch == 2:
                os.kill(os.getpid(), signal.SIGTERM)  # asks for a stop after the step ...
                os.kill(os.getpid(), signal.SIGTERM)  # ... and this one stops now, before any step

    with pytest.raises(Interrupted) as stopped:
        train(make_config(train={"epochs": 3}), out=tmp_path / "run", reporter=TerminateTwiceAtEpochTwo())
    assert stopped.value.exit_code == 143 and "--resume" in str(stopped.value)
    info = json.loads((checkpoint_weights(tmp_path / "run", "last").parent / "info.json").read_text())
    assert info["epoch"] == 1 and "batch" not in info  # epoch 1's checkpoint, as it was
    train(resume=tmp_path / "run")
    assert [r["epoch"] for r in log(tmp_path / "run")] == [1, 2, 3]


def test_resume_removes_what_a_crashed_write_left(tmp_path, make_config):
    with pytest.raises(Crash):
        train(make_config(train={"epochs": 2}), out=tmp_path / "run", after_epoch=crash_after_epoch(1))
    run = tmp_path / "run"
    half = run / "checkpoints" / ".step-000000026.abc.tmp"  # a checkpoint folder whose write was cut short
    half.mkdir()
    (half / "weights.safetensors").write_bytes(b"half")
    (run / "checkpoints" / "step-000000099").mkdir()  # renamed into place, but never named by the index
    (run / ".metrics.json.x1.tmp").write_text("{")
    train(resume=run)
    named = set(json.loads((run / "checkpoints" / "index.json").read_text()).values())
    assert {p.name for p in (run / "checkpoints").iterdir()} == {"index.json"} | named
    assert not list(run.glob(".*.tmp"))


def test_patience_stops_training_and_a_resume_of_it_has_nothing_to_do(tmp_path, make_config, monkeypatch):
    """Validation accuracies scripted 0.5, 0.7, 0.6, 0.65, 0.9: with patience 2 the run stops after
    epoch 4 (two epochs without beating 0.7), best epoch 2; its resume stops there too."""
    scores = iter([0.5, 0.7, 0.6, 0.65, 0.9])
    last = {"accuracy": None}

    def per_epoch(*args, **kwargs):  # (the final evaluation, after the epochs, takes the next score too)
        last["accuracy"] = next(scores, last["accuracy"])
        return {"accuracy": last["accuracy"], "loss": 1.0}

    monkeypatch.setattr(train_module, "evaluate_examples", per_epoch)
    config = make_config(train={"epochs": 10, "patience": 2})
    run = train(config, out=tmp_path / "run").run_dir
    assert [r["epoch"] for r in log(run)] == [1, 2, 3, 4]
    assert [r["valid_accuracy"] for r in log(run)] == [0.5, 0.7, 0.6, 0.65]
    assert json.loads((checkpoint_weights(run, "best").parent / "info.json").read_text())["epoch"] == 2
    result = CliRunner().invoke(app, ["train", "--resume", str(run), "--set", "train.epochs=20"])
    assert result.exit_code == 0 and "nothing to do, it stopped early" in result.output, result.output
    assert [r["epoch"] for r in log(run)] == [1, 2, 3, 4]
