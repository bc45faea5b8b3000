"""Command-line conventions: --version, visible defaults, plain progress off a terminal, JSON that
keeps Unicode and rounds to 6 digits, predictions written back into CSVs."""

from __future__ import annotations

import csv
import importlib.metadata
import io
import json
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from test_cli import invoke, ok, predict_json
from typer.main import get_command

from conftest import read_rows, small_config_dict, synthetic_rows, write_csv
from textcls.cli import app

ROOT = Path(__file__).resolve().parents[1]

HAPPY, SAD = "😀", "难过"  # labels outside ASCII
WORDS = {SAD: ["bad", "awful", "dull", "terrible"], HAPPY: ["good", "great", "superb", "lovely"]}


@pytest.fixture(scope="module")
def unicode_run(tmp_path_factory) -> SimpleNamespace:
    root = tmp_path_factory.mktemp("conventions")
    csvs = {
        split: write_csv(root / f"{split}.csv", ["text", "label"], synthetic_rows(n, seed, WORDS))
        for split, n, seed in (("train", 120, 1), ("valid", 40, 2), ("test", 30, 3))
    }
    config = root / "unicode.yaml"
    config.write_text(yaml.safe_dump(small_config_dict(csvs, root / "runs", train={"epochs": 2}), allow_unicode=True))
    run = root / "run"
    ok(invoke("train", "-c", config, "-o", run, "-q"))
    return SimpleNamespace(root=root, csvs=csvs, config=config, run=run)


def test_version_is_the_installed_packages():
    assert ok(invoke("--version")).stdout.strip() == f"textcls {importlib.metadata.version('textcls')}"


def all_help() -> dict[str, str]:
    group = get_command(app)
    return {name: ok(invoke(name, "--help")).stdout for name in group.commands}


def test_help_shows_defaults_and_flags_as_flags():
    helps = all_help()
    assert {"train", "eval", "predict", "report", "embed", "similarity", "stats"} <= set(helps)
    train = " ".join(helps["train"].split())
    assert "Run folder to write [default: <output.dir: runs>/<config name>-<timestamp>]" in train
    assert "-q, --quiet No progress bar or tables." in train  # a flag: no value placeholder after it
    for name, text in helps.items():
        assert "<bool>" not in text, name
    assert "[default: best]" in " ".join(helps["eval"].split()) and "[default: RUN/report]" in " ".join(
        helps["report"].split()
    )


def test_every_option_with_a_default_shows_it():
    group = get_command(app)
    for name, command in group.commands.items():
        text = " ".join(ok(invoke(name, "--help")).stdout.split())
        for param in command.params:
            if (
                param.param_type_name == "option"
                and not param.is_flag
                and param.default not in (None, [], ())
                and not param.hidden
            ):
                assert (
                    f"[default: {param.default.value if hasattr(param.default, 'value') else param.default}" in text
                ), (name, param.name)


def run_train(config: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    """`textcls train` in its own process, stderr a pipe (not a terminal), 60 columns."""
    env = {"COLUMNS": "60", "PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "textcls.cli", "train", "-c", str(config), "-o", str(out), *extra],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=300,
    )


def test_progress_off_a_terminal_is_whole_lines(unicode_run):
    done = run_train(unicode_run.config, unicode_run.root / "plain")
    assert done.returncode == 0, done.stderr
    epochs = [line for line in done.stderr.splitlines() if line.startswith("epoch ")]
    records = [json.loads(line) for line in (unicode_run.root / "plain" / "metrics.jsonl").read_text().splitlines()]
    assert len(epochs) == len(records) == 2
    for line, record in zip(epochs, records):
        assert f"valid_accuracy {record['valid_accuracy']:.4f}" in line and line.endswith("tok/s)")  # never wrapped
    progress = done.stderr.split("valid (best epoch")[0]  # the metrics tables follow
    notes = progress.splitlines()[:2]  # where the encoded data came from; which engine trains, and why
    assert notes[0].startswith("token cache: ") and notes[1].startswith("engine: torch (")
    assert progress.splitlines()[2:] == epochs and "\r" not in progress  # no bar redrawn in place
    assert "\x1b[" not in done.stderr  # no colour codes


def test_log_format_json_gives_one_object_per_epoch(unicode_run):
    done = run_train(unicode_run.config, unicode_run.root / "json", "--log-format", "json")
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stderr.splitlines() if line.strip()]
    records = [json.loads(line) for line in (unicode_run.root / "json" / "metrics.jsonl").read_text().splitlines()]
    assert [line["note"].split(" (")[0].split(": ")[0] for line in lines[:2]] == ["token cache", "engine"]  # notes
    assert lines[2:] == records


FLOAT = re.compile(r"-?\d+\.(\d+)")


def test_json_keeps_unicode_and_six_digits(unicode_run):
    text = ok(invoke("eval", unicode_run.run, unicode_run.csvs["test"], "-f", "json")).stdout
    assert HAPPY in text and SAD in text and "\\u" not in text
    assert max(len(m.group(1)) for m in FLOAT.finditer(text)) <= 6
    results = ok(invoke("predict", unicode_run.run, "a good film", "-f", "json")).stdout
    assert HAPPY in results and "\\u" not in results
    assert max(len(m.group(1)) for m in FLOAT.finditer(results)) <= 6
    assert json.loads(results)["label"] == HAPPY
    saved = (unicode_run.run / "labels.json").read_text(encoding="utf-8")
    assert HAPPY in saved  # files too


def test_predict_csv_writes_the_csv_back_with_predictions(unicode_run):
    out = unicode_run.root / "predicted.csv"
    ok(
        invoke(
            "predict",
            unicode_run.run,
            "--csv",
            unicode_run.csvs["test"],
            "--column",
            "text",
            "--out",
            out,
            "--word-scores",
        )
    )
    rows, original = read_rows(out), read_rows(unicode_run.csvs["test"])
    assert list(rows[0]) == ["text", "label", "predicted_label", "probability", "word_scores"]
    expected = predict_json(unicode_run.run, *[r["text"] for r in original])
    for row, source, result in zip(rows, original, expected):
        assert (row["text"], row["label"]) == (source["text"], source["label"])
        assert row["predicted_label"] == result["label"]
        assert float(row["probability"]) == pytest.approx(result["probabilities"][result["label"]], abs=1e-6)
        assert row["word_scores"].split() == [f"{w}:{s}" for w, s in zip(result["tokens"], result["token_scores"])]
    stdout = ok(invoke("predict", unicode_run.run, "--csv", unicode_run.csvs["test"])).stdout
    assert list(csv.DictReader(io.StringIO(stdout))) == [
        {k: v for k, v in r.items() if k != "word_scores"} for r in rows
    ]


def test_predict_csv_errors_name_the_file_and_column(unicode_run):
    result = invoke("predict", unicode_run.run, "--csv", unicode_run.csvs["test"], "--column", "txt")
    assert result.exit_code == 1 and "no column 'txt' (did you mean 'text'?)" in result.output
    blank = write_csv(unicode_run.root / "blank.csv", ["id", "text"], [["1", "a good film"], ["2", "  "]])
    result = invoke("predict", unicode_run.run, "--csv", blank)
    assert result.exit_code == 1 and f"{blank}, row 2, column 'text': empty text" in result.output


def test_eval_predictions_agree_with_its_metrics(unicode_run):
    out = unicode_run.root / "eval_rows.csv"
    metrics = json.loads(
        ok(invoke("eval", unicode_run.run, unicode_run.csvs["test"], "-f", "json", "--predictions", out)).stdout
    )
    rows = read_rows(out)
    assert list(rows[0]) == ["text", "gold", "label", "probability"]
    assert [r["gold"] for r in rows] == [r["label"] for r in read_rows(unicode_run.csvs["test"])]
    accuracy = sum(r["gold"] == r["label"] for r in rows) / len(rows)
    assert accuracy == pytest.approx(metrics["accuracy"], abs=1e-6)


def test_pyproject_uses_an_spdx_license():
    tomllib = pytest.importorskip("tomllib")  # (Python 3.11+)
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["project"]["license"] == "MIT"
    assert any(r.replace(" ", "").startswith("setuptools>=77") for r in project["build-system"]["requires"])
