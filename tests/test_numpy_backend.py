"""The numpy backend (textcls/numpy_bag.py, backends.py) against torch, the model as it trained:
for runs of every task it serves, with word and character n-grams, the same labels, the same
model outputs within 1e-6 and the same `predict` results (up to their rounding), the same `eval`
metrics; `auto` chooses
numpy where the run allows it; the numpy path imports neither torch nor numba; a damaged run
folder is the same one-line error."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from conftest import FILLER, NEGATIVE, NEUTRAL, POSITIVE, small_config_dict, write_csv
from textcls.backends import open_run
from textcls.cli import app
from textcls.config import config_from_dict
from textcls.data import Example
from textcls.errors import RunError
from textcls.predict import evaluate_file, predict_texts
from textcls.train import train

ROOT = Path(__file__).resolve().parents[1]
TEXTS = [
    "a great and wonderful film",
    "awful boring plot",
    "the film",
    "zzz unseen words only",
    "great great awful",
    "not good , not bad at all",
]


def rows(n: int, seed: int, task: str) -> list[list[str]]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        kind = i % 3
        words = rng.choices([NEGATIVE, NEUTRAL, POSITIVE][kind], k=2) + rng.choices(FILLER, k=rng.randint(2, 5))
        rng.shuffle(words)
        label = {
            "classification": ["neg", "neu", "pos"][kind],
            "binary": ["neg", "pos"][kind % 2],
            "multilabel": "|".join([["neg"], ["neu", "x"], ["pos"]][kind]),
            "regression": str(kind + rng.random() / 10),
            "ranking": str(kind + rng.random() / 10),
        }[task]
        out.append([" ".join(words), label] + ([f"q{i // 6}"] if task == "ranking" else []))
    return out


CASES = {
    "binary bce": ("binary", {"loss": {"name": "bce"}}),
    "multi-class ce, label smoothing": ("classification", {"loss": {"name": "ce", "label_smoothing": 0.1}}),
    "multi-label": ("multilabel", {}),
    "regression huber": ("regression", {"loss": {"name": "huber"}}),
    "ranking mse": ("ranking", {"data": {"group_column": "query"}, "loss": {"name": "mse"}}),
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    """One small run per case, bag of words with word bigrams and character n-grams, calibrated."""
    folder = tmp_path_factory.mktemp("numpy_runs")
    made = {}
    for case, (kind, sections) in CASES.items():
        header = ["text", "label"] + (["query"] if kind == "ranking" else [])
        csvs = {
            split: write_csv(folder / case / f"{split}.csv", header, rows(n, seed, kind))
            for split, n, seed in (("train", 120, 1), ("valid", 45, 2), ("test", 30, 3))
        }
        task = {"binary": "classification"}.get(kind, kind)
        raw = small_config_dict(
            csvs,
            folder / "runs",
            task=task,
            model={"type": "bow", "word_ngrams": 3, "buckets": 97, "char_ngrams": [2, 4]},
            train={"epochs": 3, "engine": "torch"},
            **sections,
        )
        made[case] = train(config_from_dict(raw), out=folder / "runs" / case.replace(" ", "_")).run_dir
    return made


def flat(results: list[dict]) -> list:
    """Each result's keys and values, floats apart (compared within 1e-6)."""
    return [{k: v for k, v in r.items() if not isinstance(v, (float, dict, list))} for r in results]


def floats(value) -> list[float]:
    if isinstance(value, float):
        return [value]
    if isinstance(value, dict):
        return [x for v in value.values() for x in floats(v)]
    if isinstance(value, list):
        return [x for v in value for x in floats(v)]
    return []


ROUNDING = 1e-4 + 1e-9  # results round token scores to 4 decimals: a value near a boundary may round either way


@pytest.mark.parametrize("case", list(CASES))
def test_numpy_predicts_what_torch_predicts(runs, case):
    numpy_run, torch_run = (open_run(runs[case], backend=b) for b in ("numpy", "torch"))
    assert (numpy_run.backend, torch_run.backend) == ("numpy", "torch")
    items = torch_run.featurizer.encode_all([Example(t.split(), None) for t in TEXTS])
    got, expected = (r.predict(items, batch_size=4, with_tokens=True) for r in (numpy_run, torch_run))
    np.testing.assert_allclose(got.sentence, expected.sentence, atol=1e-6, rtol=0)
    np.testing.assert_allclose(got.tokens, expected.tokens, atol=1e-6, rtol=0)
    got, expected = (predict_texts(r, TEXTS, batch_size=4) for r in (numpy_run, torch_run))
    assert flat(got) == flat(expected)  # labels, tags, lines, texts
    for g, e in zip(got, expected):
        assert [k for k in g] == [k for k in e]
        np.testing.assert_allclose(floats(g), floats(e), atol=ROUNDING, rtol=0)


@pytest.mark.parametrize("case", list(CASES))
def test_numpy_evaluates_what_torch_evaluates(runs, case):
    test_csv = runs[case].parent.parent / case / "test.csv"
    got, expected = (
        evaluate_file(open_run(runs[case], backend=b, with_loss=True), test_csv) for b in ("numpy", "torch")
    )
    assert got.keys() == expected.keys()
    np.testing.assert_allclose(floats(got), floats(expected), atol=1e-6, rtol=0)


def test_the_cli_lines_are_the_same_and_auto_is_numpy(runs):
    run = str(runs["multi-class ce, label smoothing"])
    outputs = {}
    for backend in ("numpy", "torch", "auto"):
        result = CliRunner().invoke(app, ["predict", run, *TEXTS, "-f", "json", "--top-k", "2", "--backend", backend])
        assert result.exit_code == 0, result.output
        outputs[backend] = [json.loads(line) for line in result.stdout.splitlines()]
    for a, b in zip(outputs["numpy"], outputs["torch"]):
        assert flat([a]) == flat([b]) and [x["label"] for x in a["top_k"]] == [x["label"] for x in b["top_k"]]
        np.testing.assert_allclose(floats(a), floats(b), atol=ROUNDING, rtol=0)
    assert outputs["auto"] == outputs["numpy"]
    assert open_run(run).backend == "numpy"
    assert open_run(run, torch_for="--faithfulness").backend == "torch"


def test_the_numpy_path_imports_neither_torch_nor_numba(runs):
    code = (
        "import json, sys\n"
        "from textcls.cli import app\n"
        f"app(['predict', {str(runs['binary bce'])!r}, 'a great film', '-f', 'json'], standalone_mode=False)\n"
        "print(json.dumps(sorted(m for m in ('torch', 'numba') if m in sys.modules)))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1]) == []


def test_numpy_refuses_what_it_cannot_run_in_one_line(runs, tmp_path, make_config):
    lstm = train(make_config(model={"type": "lstm", "embedding_dim": 8, "hidden_dim": 8}, train={"epochs": 1})).run_dir
    with pytest.raises(RunError, match=r"--backend numpy cannot serve this: model.type is lstm"):
        open_run(lstm, backend="numpy")
    assert open_run(lstm).backend == "torch"
    result = CliRunner().invoke(app, ["predict", str(lstm), "good", "--backend", "numpy"])
    assert result.exit_code == 1 and len(result.output.strip().splitlines()) == 1


def test_a_damaged_weight_file_is_the_one_line_torch_gives(runs, tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(runs["binary bce"], run)
    weights = next(run.glob("checkpoints/*/weights.safetensors"))
    weights.write_bytes(weights.read_bytes()[:-4] + b"\x00\x00\x00\x00")  # the sha256 no longer matches
    lines = {}
    for backend in ("numpy", "torch"):
        result = CliRunner().invoke(app, ["predict", str(run), "good", "--backend", backend])
        assert result.exit_code == 1 and "Traceback" not in result.output
        lines[backend] = result.output.strip()
    assert lines["numpy"] == lines["torch"] and "damaged run folder" in lines["numpy"]


def test_the_exported_flat_bag_predicts_without_torch_what_numpy_predicts(runs, tmp_path):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    import shutil

    run = tmp_path / "run"
    shutil.copytree(runs["multi-class ce, label smoothing"], run)
    assert CliRunner().invoke(app, ["export", str(run)]).exit_code == 0
    onnx_run = open_run(run, backend="onnx")
    assert onnx_run.backend == "onnx" and type(onnx_run.model).__name__ == "OnnxBag"
    items = onnx_run.featurizer.encode_all([Example(t.split(), None) for t in TEXTS])
    got, expected = (
        r.predict(items, batch_size=4, with_tokens=True) for r in (onnx_run, open_run(run, backend="numpy"))
    )
    np.testing.assert_allclose(got.sentence, expected.sentence, atol=1e-5, rtol=0)
    np.testing.assert_allclose(got.tokens, expected.tokens, atol=1e-5, rtol=0)
    test_csv = runs["multi-class ce, label smoothing"].parent.parent / "multi-class ce, label smoothing" / "test.csv"
    got, expected = (evaluate_file(open_run(run, backend=b, with_loss=True), test_csv) for b in ("onnx", "numpy"))
    np.testing.assert_allclose(floats(got), floats(expected), atol=1e-5, rtol=0)
    code = (
        "import json, sys\n"
        "from textcls.cli import app\n"
        f"app(['predict', {str(run)!r}, 'a great film', '-f', 'json', '--backend', 'onnx'], standalone_mode=False)\n"
        "print(json.dumps(sorted(m for m in ('torch', 'numba') if m in sys.modules)))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1]) == []


@pytest.mark.parametrize("case", ["binary bce", "multi-class ce, label smoothing", "regression huber", "ranking mse"])
def test_json_lines_from_columns_are_the_bytes_of_the_result_dicts(runs, case):
    import orjson

    run = open_run(runs[case])
    texts = TEXTS + ['a "quoted" word , and \\\\ a backslash', "ünïcödé wörds", "", "  ", "x"]
    dicts, lines = (predict_texts(run, texts, batch_size=4, as_json=j) for j in (False, True))
    assert sum(isinstance(line, bytes) for line in lines) == len(texts) - 2  # (the blank ones are dicts)
    assert [line if isinstance(line, bytes) else orjson.dumps(line) for line in lines] == [
        orjson.dumps(r) for r in dicts
    ]


@pytest.mark.parametrize("weight", ["embedding.weight", "token_head.weight", "bias"])
def test_a_weight_that_is_not_finite_is_the_one_line_torch_gives(runs, tmp_path, weight):
    import shutil

    from safetensors.numpy import load_file, save_file

    from conftest import reseal

    run = tmp_path / "run"
    shutil.copytree(runs["binary bce"], run)
    path = next(run.glob("checkpoints/*/weights.safetensors"))
    weights = load_file(str(path))
    weights[weight].reshape(-1)[-1] = np.inf
    save_file(weights, str(path))
    reseal(path.parent)  # (a sound file, honestly listed: only its values are wrong)
    lines = {}
    for backend in ("numpy", "torch"):
        result = CliRunner().invoke(app, ["predict", str(run), "good", "--backend", backend])
        assert result.exit_code == 1 and "Traceback" not in result.output
        lines[backend] = result.output.strip()
    assert lines["numpy"] == lines["torch"] and f"weight '{weight}' is not finite" in lines["numpy"]
