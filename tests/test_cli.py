"""The `textcls` command, run in-process: train, eval, predict, and one-line errors for bad input."""

from __future__ import annotations

import json
import math
import shutil
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import yaml
from safetensors.torch import load_file
from sklearn.metrics import confusion_matrix, f1_score
from typer.testing import CliRunner

from conftest import (
    NEGATIVE,
    POSITIVE,
    _write_splits,
    bow_head,
    checkpoint_dir,
    checkpoint_weights,
    read_rows,
    reseal,
    small_config_dict,
    write_csv,
)
from textcls.checkpoint_files import checkpoint_info
from textcls.cli import app

EPOCHS = 3


def invoke(*args, input: str | None = None):
    return CliRunner().invoke(app, [str(a) for a in args], input=input)


def ok(result):
    assert result.exit_code == 0, f"exit {result.exit_code}: {result.output}\n{result.exception!r}"
    assert "Traceback" not in result.output
    return result


def stderr_of(result) -> str:
    """stderr where the runner keeps it apart (recent Click and Typer), else the mixed output."""
    try:
        return result.stderr
    except ValueError:  # older Click with mix_stderr=True
        return result.output


def assert_user_error(result, *fragments: str) -> str:
    """Exit code 1, one line on stderr that names what is wrong, and no traceback."""
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    lines = [line for line in stderr_of(result).splitlines() if line.strip()]
    assert len(lines) == 1, stderr_of(result)
    assert lines[0].startswith("error: ")
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def write_config(path: Path, csvs: dict, out_dir: Path, **sections) -> Path:
    path.write_text(yaml.safe_dump(small_config_dict(csvs, out_dir, **sections), sort_keys=False))
    return path


def train_cli(config: Path, out: Path, *extra: str):
    return invoke("train", "--config", config, "--out", out, "-q", *extra)


def predict_json(run: Path, *args, input: str | None = None) -> list[dict]:
    result = ok(invoke("predict", run, *args, "-f", "json", input=input))
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> SimpleNamespace:
    """One binary bag-of-words run trained through the CLI, shared by the read-only tests below.
    The config file says 10 epochs; `--set` makes it EPOCHS."""
    root = tmp_path_factory.mktemp("cli")
    csvs = _write_splits(root / "data", {"neg": NEGATIVE, "pos": POSITIVE})
    config = write_config(root / "binary.yaml", csvs, root / "runs", train={"epochs": 10})
    run = root / "run"
    result = ok(train_cli(config, run, "--set", f"train.epochs={EPOCHS}", "--set", "model.embedding_dim=12"))
    return SimpleNamespace(root=root, csvs=csvs, config=config, run=run, result=result)


# --- train ---------------------------------------------------------------------------------------


def test_train_writes_a_complete_run_folder(trained):
    run = trained.run
    assert trained.result.stdout.strip() == str(run)  # the run folder on stdout, nothing else
    for name in ["config.yaml", "vocab.json", "labels.json", "model.json", "metrics.jsonl", "metrics.json"]:
        assert (run / name).is_file(), name
    best_dir, last_dir = checkpoint_dir(run, "best"), checkpoint_dir(run, "last")
    for folder in (best_dir, last_dir):
        assert {p.name for p in folder.iterdir()} >= {"weights.safetensors", "info.json", "manifest.json"}
    assert (last_dir / "state.pt").is_file()
    best, last = (checkpoint_info(run, n)["epoch"] for n in ("best", "last"))
    assert (best_dir == last_dir) == (best == last)  # one folder for both when the best epoch is the last
    assert (best_dir / "state.pt").is_file() == (best == last)  # resuming needs only last's state
    # Nothing but the checkpoints the index names.
    assert {p.name for p in (run / "checkpoints").iterdir()} == {"index.json", best_dir.name, last_dir.name}
    saved = yaml.safe_load((run / "config.yaml").read_text())
    assert saved["train"]["epochs"] == EPOCHS and saved["model"]["embedding_dim"] == 12  # --set applied
    assert json.loads((run / "labels.json").read_text()) == ["neg", "pos"]


def test_vocabulary_holds_exactly_the_training_words(trained):
    counts = Counter(w for row in read_rows(trained.csvs["train"]) for w in row["text"].split())
    tokens = json.loads((trained.run / "vocab.json").read_text())["tokens"]
    assert tokens[:2] == ["<pad>", "<unk>"]
    assert sorted(tokens[2:]) == sorted(counts)
    assert tokens[2:] == sorted(counts, key=lambda w: (-counts[w], w))


def test_metrics_log_has_one_line_per_epoch(trained):
    lines = (trained.run / "metrics.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["epoch"] for r in records] == list(range(1, EPOCHS + 1))
    train_tokens = sum(len(row["text"].split()) for row in read_rows(trained.csvs["train"]))
    for record in records:
        for key in ["train_loss", "valid_accuracy", "valid_loss", "seconds", "tokens_per_second"]:
            assert isinstance(record[key], float), key
        assert record["train_loss"] > 0 and 0 <= record["valid_accuracy"] <= 1
        assert record["tokens_per_second"] * record["seconds"] == pytest.approx(train_tokens, rel=1e-6)


def test_best_checkpoint_is_the_best_logged_epoch(trained):
    records = [json.loads(line) for line in (trained.run / "metrics.jsonl").read_text().splitlines()]
    accuracies = [r["valid_accuracy"] for r in records]
    best_epoch = accuracies.index(max(accuracies)) + 1  # the first epoch reaching the maximum
    final = json.loads((trained.run / "metrics.json").read_text())
    assert final["best_epoch"] == best_epoch
    assert checkpoint_info(trained.run, "best")["epoch"] == best_epoch
    assert checkpoint_info(trained.run, "last")["epoch"] == EPOCHS
    assert final["valid"]["accuracy"] == pytest.approx(max(accuracies))
    assert final["test"]["accuracy"] >= 0.95


def test_checkpoints_load_without_executing_code(trained):
    state = torch.load(checkpoint_dir(trained.run, "last") / "state.pt", weights_only=True)
    assert isinstance(state, dict) and "optimizer" in state
    assert state["progress"]["epoch"] == checkpoint_info(trained.run, "last")["epoch"]
    for name in ["best", "last"]:
        weights = load_file(str(checkpoint_dir(trained.run, name) / "weights.safetensors"))
        vocab = json.loads((trained.run / "vocab.json").read_text())["tokens"]
        assert weights["embedding.weight"].shape == (len(vocab), 12)
        W, b = bow_head(weights)
        assert W.shape == (1, 12) and b.shape == (1,)  # bce: one logit


def test_train_refuses_a_used_out_folder(trained):
    before = (trained.run / "metrics.json").read_bytes()
    result = train_cli(trained.config, trained.run, "--set", f"train.epochs={EPOCHS}")
    assert result.exit_code != 0
    assert "--overwrite" in result.output and str(trained.run) in result.output
    assert "Traceback" not in result.output
    assert (trained.run / "metrics.json").read_bytes() == before


def test_overwrite_replaces_the_run(tmp_path, sentiment_csvs):
    config = write_config(tmp_path / "c.yaml", sentiment_csvs, tmp_path / "runs")
    out = tmp_path / "run"
    ok(train_cli(config, out, "--set", "train.epochs=3"))
    ok(train_cli(config, out, "--overwrite", "--set", "train.epochs=2"))
    lines = (out / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1, 2]  # the old log is gone, not appended to
    assert yaml.safe_load((out / "config.yaml").read_text())["train"]["epochs"] == 2


def test_overwrite_leaves_no_stale_checkpoints(tmp_path, sentiment_csvs):
    config = write_config(tmp_path / "c.yaml", sentiment_csvs, tmp_path / "runs", train={"epochs": 1})
    out = tmp_path / "run"
    ok(train_cli(config, out))
    for folder in ("export", "report"):  # what `textcls export` and `textcls report` would have left
        (out / folder).mkdir()
        (out / folder / "stale").write_text("of the old run\n")
    ok(train_cli(config, out, "--overwrite", "--set", "output.save_last=false", "--set", "model.embedding_dim=8"))
    assert json.loads((out / "checkpoints" / "index.json").read_text()).keys() == {"best"}
    assert not (out / "export").exists() and not (out / "report").exists()  # an old export would serve the old weights
    assert len(list((out / "checkpoints").iterdir())) == 2  # index.json and best's folder: nothing of the old run


def test_train_without_quiet_prints_metrics_tables(tmp_path, sentiment_csvs):
    config = write_config(tmp_path / "c.yaml", sentiment_csvs, tmp_path / "runs", train={"epochs": 1})
    result = ok(invoke("train", "--config", config, "--out", tmp_path / "run"))
    assert result.stdout.strip().splitlines()[-1] == str(tmp_path / "run")
    assert "accuracy" in stderr_of(result) and "epoch 1" in stderr_of(result)  # progress and tables: stderr


# --- eval ------------------------------------------------------------------------------------------


def test_eval_json_matches_metrics_recomputed_from_predict(trained, tmp_path):
    data = trained.csvs["test"]
    json_path = tmp_path / "metrics.json"
    result = ok(invoke("eval", trained.run, data, "--format", "json", "--json", json_path))
    metrics = json.loads(result.stdout)
    assert json.loads(json_path.read_text()) == metrics

    rows = read_rows(data)
    texts = tmp_path / "texts.txt"
    texts.write_text("\n".join(r["text"] for r in rows) + "\n")
    predictions = predict_json(trained.run, "--file", texts, "--no-calibration")  # the model's own probabilities
    assert len(predictions) == len(rows) == metrics["rows"]
    y_true = [r["label"] for r in rows]
    y_pred = [p["label"] for p in predictions]
    assert metrics["accuracy"] == pytest.approx(np.mean([t == p for t, p in zip(y_true, y_pred)]))
    assert metrics["macro_f1"] == pytest.approx(f1_score(y_true, y_pred, average="macro"))
    assert metrics["confusion"] == confusion_matrix(y_true, y_pred, labels=["neg", "pos"]).tolist()
    for label in ["neg", "pos"]:
        assert metrics["per_class"][label]["support"] == y_true.count(label)
    # the mean loss is the mean of -log p(true label), from the printed (rounded) probabilities
    loss = np.mean([-math.log(p["probabilities"][t]) for p, t in zip(predictions, y_true)])
    assert metrics["loss"] == pytest.approx(loss, rel=1e-3, abs=1e-4)
    # and the NLL is that of the calibrated probabilities predict prints by default
    calibrated = predict_json(trained.run, "--file", texts)
    nll = np.mean([-math.log(max(p["probabilities"][t], 1e-12)) for p, t in zip(calibrated, y_true)])
    assert metrics["nll"] == pytest.approx(nll, rel=1e-3, abs=1e-4)


def test_eval_on_the_validation_file_agrees_with_training(trained):
    metrics = json.loads(ok(invoke("eval", trained.run, trained.csvs["valid"], "-f", "json")).stdout)
    final = json.loads((trained.run / "metrics.json").read_text())
    assert metrics["accuracy"] == final["valid"]["accuracy"]
    assert metrics["confusion"] == final["valid"]["confusion"]


def test_eval_table_shows_accuracy(trained):
    predictions = predict_json(trained.run, *[r["text"] for r in read_rows(trained.csvs["valid"])])
    accuracy = np.mean([p["label"] == r["label"] for p, r in zip(predictions, read_rows(trained.csvs["valid"]))])
    result = ok(invoke("eval", trained.run, trained.csvs["valid"]))
    assert "accuracy" in result.stdout and f"{accuracy:.4f}" in result.stdout


def test_eval_loss_is_finite_with_balanced_class_weights(tmp_path, three_class_csvs):
    config = write_config(tmp_path / "c.yaml", three_class_csvs, tmp_path / "runs", train={"epochs": 2})
    run = tmp_path / "run"
    ok(train_cli(config, run, "--set", "loss.class_weights=balanced"))
    result = ok(invoke("eval", run, three_class_csvs["valid"], "-f", "json"))

    def reject(constant):
        raise ValueError(f"{constant} is not JSON")

    metrics = json.loads(result.stdout, parse_constant=reject)
    assert math.isfinite(metrics["loss"])


# --- predict --------------------------------------------------------------------------------------

TEXTS = ["a really wonderful and charming film", "the plot was dull and the acting terrible"]


def test_predict_json_lines(trained):
    predictions = predict_json(trained.run, *TEXTS)
    assert len(predictions) == 2
    weights = load_file(str(checkpoint_weights(trained.run, "best")))
    bias = float(bow_head(weights)[1][0])
    fitted = trained.run / "task.json"  # a temperature fitted on validation, if validation had an error
    temperature = json.loads(fitted.read_text())["temperature"] if fitted.is_file() else 1.0
    for prediction, text in zip(predictions, TEXTS):
        assert prediction["text"] == text
        assert prediction["tokens"] == text.split()
        probabilities = prediction["probabilities"]
        assert set(probabilities) == {"neg", "pos"}
        assert sum(probabilities.values()) == pytest.approx(1, abs=1e-5)
        assert prediction["label"] == max(probabilities, key=probabilities.get)
        assert len(prediction["token_scores"]) == len(text.split())
        # bag of words, one logit: P(pos) = sigmoid((mean token score + bias) / temperature)
        logit = np.mean(prediction["token_scores"]) + bias
        assert probabilities["pos"] == pytest.approx(1 / (1 + math.exp(-logit / temperature)), abs=1e-3)
    assert [p["label"] for p in predictions] == ["pos", "neg"]  # the model learnt the word lists


def test_predict_file_and_stdin_give_the_same_results(trained, tmp_path):
    expected = predict_json(trained.run, *TEXTS)
    lines = tmp_path / "lines.txt"
    lines.write_text(TEXTS[0] + "\n" + TEXTS[1] + "\n")
    assert predict_json(trained.run, "--file", lines) == expected
    assert predict_json(trained.run, "-", input="\n".join(TEXTS) + "\n") == expected
    assert predict_json(trained.run, input="\n".join(TEXTS)) == expected  # no argument: stdin too


def test_predict_table_output(trained):
    result = ok(invoke("predict", trained.run, TEXTS[0]))
    assert "pos" in result.stdout and "wonderful" in result.stdout


def test_predict_three_classes(tmp_path, three_class_csvs):
    config = write_config(tmp_path / "c.yaml", three_class_csvs, tmp_path / "runs", train={"epochs": 3})
    run = tmp_path / "run"
    ok(train_cli(config, run))
    texts = ["superb lovely film", "dull awful plot", "a plain ordinary story"]
    predictions = predict_json(run, *texts)
    assert [p["label"] for p in predictions] == ["pos", "neg", "neu"]
    for p, text in zip(predictions, texts):
        assert set(p["probabilities"]) == {"neg", "neu", "pos"}
        assert sum(p["probabilities"].values()) == pytest.approx(1, abs=1e-5)
        assert len(p["token_scores"]) == len(text.split())


def without_line(result: dict) -> dict:
    return {k: v for k, v in result.items() if k != "line"}


def test_predict_gives_one_result_per_input_line_blank_ones_included(trained, tmp_path):
    """Blank lines keep their place (JSON Lines stays aligned with the input), across batches of 2,
    from a file, from stdin (with CRLF line ends), and among the arguments."""
    expected = [without_line(r) for r in predict_json(trained.run, *TEXTS)]
    lines = [TEXTS[0], "", TEXTS[1], "   ", "\t", TEXTS[0]]
    known = {"": None, "   ": None, "\t": None, TEXTS[0]: expected[0], TEXTS[1]: expected[1]}
    path = tmp_path / "lines.txt"
    path.write_text("\n".join(lines) + "\n")
    for args, stdin in [(["--file", path], None), (["-"], "\r\n".join(lines) + "\r\n"), (lines, None)]:
        stdout = ok(invoke("predict", trained.run, *args, "-f", "json", "--batch-size", 2, input=stdin)).stdout
        results = [json.loads(line) for line in stdout.splitlines()]
        assert len(results) == len(stdout.splitlines()) == len(lines)
        assert [r["line"] for r in results] == list(range(1, len(lines) + 1))
        for result, text in zip(results, lines):
            if known[text] is None:
                assert result == {"line": result["line"], "error": "empty line"}
            else:
                assert without_line(result) == known[text]


def test_predict_table_shows_blank_lines_in_place(trained, tmp_path):
    path = tmp_path / "lines.txt"
    path.write_text(f"{TEXTS[0]}\n\n{TEXTS[1]}\n")
    output = ok(invoke("predict", trained.run, "--file", path)).stdout
    assert output.index("wonderful") < output.index("line 2: empty line") < output.index("dull")


LATIN1 = "the plot was dull, the café awful"  # é is one byte in latin-1, not UTF-8


def test_text_not_in_the_encoding_is_one_line_naming_file_line_and_byte(trained, tmp_path):
    path = tmp_path / "latin1.txt"
    data = f"{TEXTS[0]}\n{LATIN1}\n".encode("latin-1")
    path.write_bytes(data)
    offset = data.index(b"\xe9")
    where = f"line 2, byte offset {offset}: byte 0xe9 is not utf-8 text"
    assert_user_error(invoke("predict", trained.run, "--file", path), f"{path}, {where}", "--encoding latin-1")
    assert_user_error(invoke("predict", trained.run, input=data), f"<stdin>, {where}", "--encoding latin-1")
    expected = predict_json(trained.run, TEXTS[0], LATIN1)  # the same text, as UTF-8 arguments
    assert predict_json(trained.run, "--file", path, "--encoding", "latin-1") == expected
    assert predict_json(trained.run, "-", "--encoding", "latin-1", input=data) == expected
    utf16 = tmp_path / "utf16.txt"  # a newline that is not the byte 0x0A
    utf16.write_bytes(f"{TEXTS[0]}\n\n{LATIN1}\n".encode("utf-16"))
    assert predict_json(trained.run, "--file", utf16, "--encoding", "utf-16") == [
        expected[0],
        {"line": 2, "error": "empty line"},
        {**expected[1], "line": 3},
    ]


@pytest.mark.parametrize("name", ["klingon", "base64"])
def test_predict_unknown_encoding_is_one_line(trained, name):
    assert_user_error(
        invoke("predict", trained.run, "good film", "--encoding", name), f"unknown text encoding '{name}'"
    )


def test_predict_csv_takes_no_encoding(trained):
    assert_user_error(
        invoke("predict", trained.run, "--csv", trained.csvs["test"], "--encoding", "latin-1"),
        "--encoding goes with --file and stdin",
    )


# --- bad input: one line, exit code 1, no traceback --------------------------------------------------


def test_train_missing_data_file(tmp_path, sentiment_csvs):
    missing = tmp_path / "nowhere" / "train.csv"
    config = write_config(tmp_path / "c.yaml", {**sentiment_csvs, "train": missing}, tmp_path / "runs")
    assert_user_error(train_cli(config, tmp_path / "run"), str(missing), "not found")
    assert not (tmp_path / "run").exists()  # bad input leaves no half-made run


def test_train_missing_column(tmp_path, sentiment_csvs):
    bad = write_csv(tmp_path / "cols.csv", ["txt", "label"], [["good film", "pos"], ["bad film", "neg"]])
    config = write_config(tmp_path / "c.yaml", {**sentiment_csvs, "train": bad}, tmp_path / "runs")
    assert_user_error(train_cli(config, tmp_path / "run"), str(bad), "'text'", "did you mean 'txt'")
    assert not (tmp_path / "run").exists()


def test_train_empty_text_cell(tmp_path, sentiment_csvs):
    rows = [[r["text"], r["label"]] for r in read_rows(sentiment_csvs["train"])]
    rows[6][0] = ""
    bad = write_csv(tmp_path / "holes.csv", ["text", "label"], rows)
    config = write_config(tmp_path / "c.yaml", {**sentiment_csvs, "train": bad}, tmp_path / "runs")
    assert_user_error(train_cli(config, tmp_path / "run"), str(bad), "row 7", "column 'text'")


def test_train_unknown_label_in_test_set(tmp_path, sentiment_csvs):
    rows = [[r["text"], r["label"]] for r in read_rows(sentiment_csvs["test"])]
    rows[3][1] = "mixed"
    bad = write_csv(tmp_path / "test.csv", ["text", "label"], rows)
    config = write_config(tmp_path / "c.yaml", {**sentiment_csvs, "test": bad}, tmp_path / "runs")
    assert_user_error(train_cli(config, tmp_path / "run"), str(bad), "row 4", "'mixed'")
    assert not (tmp_path / "run").exists()


def test_train_bad_config_key(tmp_path, sentiment_csvs):
    config = write_config(tmp_path / "c.yaml", sentiment_csvs, tmp_path / "runs", train={"epoch": 2})
    assert_user_error(train_cli(config, tmp_path / "run"), str(config), "'train.epoch'", "did you mean 'train.epochs'")


@pytest.mark.parametrize(
    "override, fragments",
    [
        ("train.epochs=0", ["'train.epochs'", "greater than or equal to 1"]),
        ("model.tpye=lstm", ["'model.tpye'", "did you mean 'model.type'"]),
        ("train.epochs", ["KEY=VALUE"]),
    ],
)
def test_train_bad_set_override(tmp_path, sentiment_csvs, override, fragments):
    config = write_config(tmp_path / "c.yaml", sentiment_csvs, tmp_path / "runs")
    assert_user_error(train_cli(config, tmp_path / "run", "--set", override), *fragments)


def test_train_missing_config_file(tmp_path):
    assert_user_error(train_cli(tmp_path / "absent.yaml", tmp_path / "run"), "absent.yaml", "not found")


def test_eval_unknown_label(trained, tmp_path):
    bad = write_csv(tmp_path / "eval.csv", ["text", "label"], [["good film", "pos"], ["so so", "meh"]])
    assert_user_error(invoke("eval", trained.run, bad), str(bad), "row 2", "'meh'")


def test_eval_empty_text_cell(trained, tmp_path):
    bad = write_csv(tmp_path / "eval.csv", ["text", "label"], [["good film", "pos"], ["bad", "neg"], [" ", "neg"]])
    assert_user_error(invoke("eval", trained.run, bad), str(bad), "row 3", "column 'text'")


def test_eval_missing_column(trained, tmp_path):
    bad = write_csv(tmp_path / "eval.csv", ["text", "labels"], [["good film", "pos"]])
    assert_user_error(invoke("eval", trained.run, bad), str(bad), "'label'", "did you mean 'labels'")


def test_eval_missing_data_file(trained, tmp_path):
    assert_user_error(invoke("eval", trained.run, tmp_path / "absent.csv"), "absent.csv", "not found")


def test_eval_of_a_folder_that_is_not_a_run(trained, tmp_path):
    (tmp_path / "empty").mkdir()
    assert_user_error(
        invoke("eval", tmp_path / "empty", trained.csvs["test"]), str(tmp_path / "empty"), "not a textcls run"
    )


def test_predict_missing_file_option(trained, tmp_path):
    assert_user_error(invoke("predict", trained.run, "--file", tmp_path / "absent.txt"), "absent.txt", "not found")


def test_predict_nothing_to_predict(trained):
    assert_user_error(invoke("predict", trained.run, input=""), "no text to predict")


def test_predict_unknown_checkpoint(trained):
    assert_user_error(invoke("predict", trained.run, "good", "--checkpoint", "middle"), "'middle'")


@pytest.mark.parametrize("size", ["0", "-1"])
def test_predict_rejects_a_batch_size_below_one(trained, size):
    result = invoke("predict", trained.run, "good film", "--batch-size", size)
    assert result.exit_code in (1, 2)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "batch" in result.output.lower()


def test_damaged_weights_are_a_one_line_error(trained, tmp_path):
    run = tmp_path / "copy"
    shutil.copytree(trained.run, run)
    (checkpoint_dir(run, "best") / "weights.safetensors").write_bytes(b"not a weight file")
    assert_user_error(
        invoke("predict", str(run), "good film"), "damaged run folder", "weights.safetensors", "truncated or changed"
    )
    reseal(checkpoint_dir(run, "best", check=False))  # a manifest that agrees: the file itself is then refused
    assert_user_error(
        invoke("predict", str(run), "good film"),
        "damaged run folder",
        "weights.safetensors",
        "not a readable weight file",
    )


def test_divergence_stops_training_with_one_line_and_keeps_earlier_epochs(tmp_path, sentiment_csvs):
    """The reproduction: plain SGD at lr 1e6 makes the loss NaN within the first epoch."""
    config = write_config(tmp_path / "nan.yaml", sentiment_csvs, tmp_path / "runs")
    run = tmp_path / "nan"
    result = invoke(
        "train",
        "-c",
        config,
        "-o",
        run,
        "-q",
        "--set",
        "optim.name=sgd",
        "--set",
        "model.sparse=false",
        "--set",
        "optim.lr=1e6",
        "--set",
        "train.epochs=2",
    )
    line = assert_user_error(result, "training diverged", "is not finite by step")
    assert "optim.lr" in line
    assert not (run / "metrics.json").exists()
    assert not list(run.glob("checkpoints/*/weights.safetensors"))  # no weights of the diverged epoch


def test_a_run_with_non_finite_weights_is_refused(trained, tmp_path):
    from safetensors.torch import save_file

    copy = tmp_path / "broken"
    shutil.copytree(trained.run, copy)
    folder = checkpoint_dir(copy, "best")
    weights = load_file(str(folder / "weights.safetensors"))
    name = sorted(weights)[0]
    weights[name] = weights[name].clone()
    weights[name].view(-1)[0] = float("nan")
    save_file(weights, str(folder / "weights.safetensors"))
    reseal(folder)
    assert_user_error(invoke("predict", copy, "good film"), f"weight '{name}' is not finite")


def test_json_files_never_hold_nan(tmp_path):
    from textcls.files import write_json

    write_json(tmp_path / "m.json", {"loss": float("nan"), "parts": [1.0, float("inf")]})
    assert json.loads((tmp_path / "m.json").read_text()) == {"loss": None, "parts": [1.0, None]}


def test_eval_json_into_a_folder_is_one_line(trained, tmp_path):
    assert_user_error(invoke("eval", trained.run, trained.csvs["test"], "--json", tmp_path), "is a folder")


def test_a_missing_relative_data_path_says_where_it_was_looked_for(tmp_path, sentiment_csvs, monkeypatch):
    config = write_config(tmp_path / "c.yaml", {**sentiment_csvs, "train": "data/absent.csv"}, tmp_path / "runs")
    monkeypatch.chdir(tmp_path)
    assert_user_error(
        train_cli(config, tmp_path / "run"),
        "data/absent.csv: file not found",
        f"relative paths are read from the current folder, {tmp_path}",
    )
