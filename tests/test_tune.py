"""textcls tune: an Optuna search within a budget, whose best config trains as it is."""

from __future__ import annotations

import csv
import json

import pytest
import yaml
from typer.testing import CliRunner

from conftest import small_config_dict
from textcls.cli import app
from textcls.models import MODEL_TYPES
from textcls.tune import parse_budget

pytest.importorskip("optuna")


@pytest.mark.parametrize("text, seconds", [("30s", 30), ("5m", 300), ("1h", 3600), ("1.5h", 5400), ("45", 45)])
def test_budgets(text, seconds):
    assert parse_budget(text) == seconds


@pytest.mark.parametrize("text", ["", "5x", "-3s", "0s", "m"])
def test_bad_budgets_are_one_line_errors(text, tmp_path, sentiment_csvs):
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump(small_config_dict(sentiment_csvs, tmp_path / "runs")))
    result = CliRunner().invoke(app, ["tune", "-c", str(config), "--budget", text, "-o", str(tmp_path / "t")])
    assert result.exit_code == 1 and "--budget: expected a duration" in result.output


SPACE = {
    "optim.lr": {"log": [0.005, 0.1]},
    "model.embedding_dim": [8, 16],
    "train.epochs": {"range": [2, 3]},
    "model.dropout": {"range": [0.0, 0.3]},
}


def rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_tune_writes_a_best_config_that_trains_as_it_is(tmp_path, sentiment_csvs):
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump(small_config_dict(sentiment_csvs, tmp_path / "runs", tune=SPACE)))
    out = tmp_path / "search"
    result = CliRunner().invoke(app, ["tune", "-c", str(config), "--budget", "10m", "--trials", "3", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == str(out / "best.yaml")
    trials = rows(out / "trials.csv")
    assert len(trials) == 3 and (out / "study.db").is_file()
    for t in trials:  # every value within its declared range or choices
        assert 0.005 <= float(t["optim.lr"]) <= 0.1 and t["model.embedding_dim"] in ("8", "16")
        assert t["train.epochs"] in ("2", "3") and 0.0 <= float(t["model.dropout"]) <= 0.3
    complete = [t for t in trials if t["state"] == "complete"]
    best = max(complete, key=lambda t: float(t["accuracy"]))
    saved = json.loads((out / "best_run" / "metrics.json").read_text())
    assert saved["valid"]["accuracy"] == pytest.approx(float(best["accuracy"]))
    chosen = yaml.safe_load((out / "best.yaml").read_text())
    assert chosen["model"]["embedding_dim"] == int(best["model.embedding_dim"]) and chosen["train"]["epochs"] == int(
        best["train.epochs"]
    )
    assert chosen["optim"]["lr"] == pytest.approx(float(best["optim.lr"]))
    assert not (out / "trials").exists()  # only the best trial's run folder is kept
    trained = CliRunner().invoke(app, ["train", "-c", str(out / "best.yaml"), "-o", str(tmp_path / "again"), "-q"])
    assert trained.exit_code == 0, trained.output
    # resume adds trials to the same study
    more = CliRunner().invoke(
        app, ["tune", "-c", str(config), "--budget", "10m", "--trials", "1", "-o", str(out), "--resume"]
    )
    assert more.exit_code == 0, more.output
    assert len(rows(out / "trials.csv")) == 4


def test_a_short_budget_still_gives_a_result_or_says_why(tmp_path, sentiment_csvs):
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump(small_config_dict(sentiment_csvs, tmp_path / "runs", tune=SPACE)))
    result = CliRunner().invoke(app, ["tune", "-c", str(config), "--budget", "5s", "-o", str(tmp_path / "s")])
    if result.exit_code == 0:
        assert (tmp_path / "s" / "best.yaml").is_file()
    else:
        assert "no trial finished within 5 s" in result.output


def test_unknown_fields_in_the_space_and_used_folders_are_one_line_errors(tmp_path, sentiment_csvs):
    config = tmp_path / "c.yaml"
    config.write_text(
        yaml.safe_dump(small_config_dict(sentiment_csvs, tmp_path / "runs", tune={"optim.learning_rate": [0.1]}))
    )
    result = CliRunner().invoke(app, ["tune", "-c", str(config), "--trials", "1", "-o", str(tmp_path / "a")])
    assert result.exit_code == 1 and "tune: 'optim.learning_rate' is not a config field" in result.output
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "x").write_text("")
    config.write_text(yaml.safe_dump(small_config_dict(sentiment_csvs, tmp_path / "runs")))
    result = CliRunner().invoke(app, ["tune", "-c", str(config), "--trials", "1", "-o", str(tmp_path / "used")])
    assert result.exit_code == 1 and "not empty" in result.output and "Traceback" not in result.output


def test_a_signal_stops_the_search_with_its_own_resume_command(tmp_path, sentiment_csvs, monkeypatch):
    """Trial 2's training is stopped by SIGTERM: exit 143 and one line naming `textcls tune ...
    --resume` (not the trial's own run folder); then --resume goes on, trial 1 kept."""
    import signal

    from textcls import train as train_module
    from textcls.errors import Interrupted

    real_train, calls = train_module.train, []

    def train_stopped_the_second_time(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise Interrupted(signal.SIGTERM, "stopped")  # as train() reports a signal
        return real_train(*args, **kwargs)

    monkeypatch.setattr(train_module, "train", train_stopped_the_second_time)
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump(small_config_dict(sentiment_csvs, tmp_path / "runs", tune=SPACE)))
    out = tmp_path / "search"
    result = CliRunner().invoke(app, ["tune", "-c", str(config), "--budget", "10m", "--trials", "3", "-o", str(out)])
    assert result.exit_code == 143, result.output
    assert "Traceback" not in result.output and f"--out {out} --resume" in result.output
    assert "train --resume" not in result.output
    assert not (out / "trials" / "trial-1").exists()  # the stopped trial leaves nothing
    monkeypatch.setattr(train_module, "train", real_train)
    more = CliRunner().invoke(
        app, ["tune", "-c", str(config), "--budget", "10m", "--trials", "1", "-o", str(out), "--resume"]
    )
    assert more.exit_code == 0, more.output
    assert [t["state"] for t in rows(out / "trials.csv")][:2] == ["complete", "fail"]


def test_a_damaged_study_database_is_one_line(tmp_path, sentiment_csvs):
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump(small_config_dict(sentiment_csvs, tmp_path / "runs", tune=SPACE)))
    (tmp_path / "search").mkdir()
    (tmp_path / "search" / "study.db").write_bytes(b"not a database")
    result = CliRunner().invoke(
        app, ["tune", "-c", str(config), "--budget", "5s", "-o", str(tmp_path / "search"), "--resume"]
    )
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "study.db: cannot open the search's database" in lines[0], result.output


def test_an_out_that_is_a_file_is_one_line(tmp_path, sentiment_csvs):
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump(small_config_dict(sentiment_csvs, tmp_path / "runs", tune=SPACE)))
    blocker = tmp_path / "afile"
    blocker.write_text("keep me\n")
    for out in (blocker, blocker / "search"):
        result = CliRunner().invoke(app, ["tune", "-c", str(config), "--budget", "5s", "-o", str(out)])
        assert result.exit_code == 1 and "Traceback" not in result.output, result.output
        assert len([line for line in result.output.splitlines() if line.strip()]) == 1
    assert blocker.read_text() == "keep me\n"


@pytest.mark.parametrize("model_type", sorted(MODEL_TYPES))
def test_every_model_type_has_a_default_search_space_of_its_own_fields(model_type, tmp_path):
    """A config without a `tune:` section searches its model type's space: every entry names a
    field the config has, and every trial config it can draw is valid."""
    from textcls.config import config_from_dict
    from textcls.tune import space_of, trial_config

    config = config_from_dict({"data": {"train": "t.csv"}, "model": {"type": model_type}})
    space = space_of(config)
    assert space and any(k.startswith("model.") for k in space)
    for path, choice in space.items():
        values = choice if isinstance(choice, list) else [getattr(choice, "log", None) or choice.range][0]
        for value in values:
            trial_config(config, {path: value})  # raises on a value the field refuses
