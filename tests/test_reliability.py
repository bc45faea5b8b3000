"""What the CLI does when something goes wrong around a run folder: a damaged run, a pickle that
would run code, a full disk during a save, an output folder that cannot be written, a training
already writing the folder, a diverging training. Every failure is exit code 1 (or the code the
case calls for), exactly one line on stderr and no traceback, and every test also checks that
nothing written earlier was lost: the files are compared with copies taken before, byte for byte,
or loaded and compared with the tensors that were saved.
"""

from __future__ import annotations

import builtins
import errno
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from safetensors.torch import load_file
from test_cli import assert_user_error, invoke, ok, train_cli, write_config

from conftest import NEGATIVE, POSITIVE, _write_splits, checkpoint_dir, reseal
from textcls import checkpoint as checkpoint_module
from textcls import files as files_module
from textcls import run_folder as run_folder_module
from textcls import train as train_module
from textcls.checkpoint_files import checkpoint_info
from textcls.run_folder import RunLock

EPOCHS = 3
SMALL = {"model": {"type": "bow", "embedding_dim": 8, "hidden_dim": 8, "dropout": 0.0}, "train": {"epochs": EPOCHS}}
NO_SPACE = "No space left on device"


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` (but the lock file), by relative path: what "unchanged" is compared with."""
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != ".lock"
    }


def epochs_logged(run: Path) -> list[int]:
    return [json.loads(line)["epoch"] for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]


def enospc(*_args, **_kwargs):
    raise OSError(errno.ENOSPC, NO_SPACE)


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> SimpleNamespace:
    """One small run trained through the CLI; each test damages or reuses a copy of it."""
    root = tmp_path_factory.mktemp("reliability")
    csvs = _write_splits(root / "data", {"neg": NEGATIVE, "pos": POSITIVE})
    config = write_config(root / "small.yaml", csvs, root / "runs", **SMALL)
    run = root / "run"
    ok(train_cli(config, run))
    return SimpleNamespace(root=root, csvs=csvs, config=config, run=run, files=snapshot(run))


@pytest.fixture
def copy(trained, tmp_path) -> Path:
    run = tmp_path / "copy"
    shutil.copytree(trained.run, run)
    return run


# --- 1. damaged run folders ----------------------------------------------------------------------


def _edit_json(run: Path, name: str, change) -> None:
    path = run / name
    path.write_text(json.dumps(change(json.loads(path.read_text()))))


def _weights(run: Path) -> Path:
    return checkpoint_dir(run, "best", check=False) / "weights.safetensors"


def _flip_one_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) - 3] ^= 0xFF  # in the tensor data, past the header: the file still parses
    path.write_bytes(bytes(data))


def _poisoned_yaml(run: Path, marker: Path) -> None:
    text = (run / "config.yaml").read_text()
    (run / "config.yaml").write_text(text + f'hook: !!python/object/apply:os.system ["touch {marker}"]\n')


def _drop_best(run: Path) -> None:
    _edit_json(run, "checkpoints/index.json", lambda index: {k: v for k, v in index.items() if k != "best"})


DAMAGES = {  # name: (damage(run, marker), fragments of the message beyond "RUN: damaged run folder: ")
    "model.json not JSON": (
        lambda run, m: (run / "model.json").write_text('{"task": "classification",'),
        ["model.json: not valid JSON"],
    ),
    "vocab.json not JSON": (
        lambda run, m: (run / "vocab.json").write_text("{tokens: [}"),
        ["vocab.json: not valid JSON"],
    ),
    "labels.json not JSON": (
        lambda run, m: (run / "labels.json").write_text("['neg', 'pos']"),
        ["labels.json: not valid JSON"],
    ),
    "model.json without num_features": (
        lambda run, m: _edit_json(run, "model.json", lambda d: {k: v for k, v in d.items() if k != "num_features"}),
        ["model.json: missing key 'num_features'"],
    ),
    "labels.json empty": (lambda run, m: (run / "labels.json").write_text("[]"), ["labels.json: holds no label"]),
    "config.yaml with a python tag": (_poisoned_yaml, ["config.yaml: not a plain YAML config"]),
    "weights truncated": (
        lambda run, m: _weights(run).write_bytes(_weights(run).read_bytes()[:-100]),
        ["weights.safetensors: ", "truncated or changed"],
    ),
    "weights with one byte flipped": (
        lambda run, m: _flip_one_byte(_weights(run)),
        ["weights.safetensors: its sha256 differs from its manifest"],
    ),
    "manifest deleted": (lambda run, m: (_weights(run).parent / "manifest.json").unlink(), ["manifest.json: missing"]),
    "weights deleted": (lambda run, m: _weights(run).unlink(), ["weights.safetensors: missing"]),
    "vocab.json with a word more": (
        lambda run, m: _edit_json(run, "vocab.json", lambda d: {**d, "tokens": d["tokens"] + ["extra"]}),
        ["vocab.json: ", "model.json says"],
    ),
    "task.json temperature a string": (
        lambda run, m: (run / "task.json").write_text('{"temperature": "abc"}'),
        ["task.json: 'temperature' is 'abc', not a positive number"],
    ),
    "task.json temperature negative": (
        lambda run, m: (run / "task.json").write_text('{"temperature": -1.0}'),
        ["task.json: 'temperature' is -1.0, not a positive number"],
    ),
    "task.json thresholds not one per label": (
        lambda run, m: (run / "task.json").write_text('{"thresholds": [0.5]}'),
        ["task.json: 'thresholds' must be 2 numbers in [0, 1]"],
    ),
}


BACKENDS = ["numpy", "torch"]  # (the bag of words runs on both: each must refuse alike)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("command", ["predict", "eval"])
@pytest.mark.parametrize("case", list(DAMAGES))
def test_a_damaged_run_folder_is_one_line_naming_the_file(trained, copy, tmp_path, command, case, backend):
    damage, fragments = DAMAGES[case]
    marker = tmp_path / "MARKER"
    damage(copy, marker)
    before = snapshot(copy)
    args = [copy, "good film"] if command == "predict" else [copy, trained.csvs["test"]]
    args += ["--backend", backend]
    line = assert_user_error(invoke(command, *args), f"{copy}: damaged run folder: ", *fragments)
    assert len(line) < 600
    assert not marker.exists()  # (the python tag ran nothing)
    assert snapshot(copy) == before  # refused without touching the run: nothing "repaired" or removed


def test_the_poisoned_config_really_runs_code_when_loaded_unsafely(copy, tmp_path):
    """The payload of the case above is live: an unsafe loader runs it (so the test above can fail)."""
    import yaml

    marker = tmp_path / "MARKER"
    _poisoned_yaml(copy, marker)
    yaml.unsafe_load((copy / "config.yaml").read_text())
    assert marker.exists()


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("command", ["predict", "eval"])
def test_an_absurd_feature_count_is_refused_from_the_weight_header_before_allocating(trained, copy, command, backend):
    _edit_json(copy, "model.json", lambda d: {**d, "num_features": 10**12})
    start = time.perf_counter()
    args = [copy, "good film"] if command == "predict" else [copy, trained.csvs["test"]]
    args += ["--backend", backend]
    line = assert_user_error(
        invoke(command, *args), f"{copy}: damaged run folder: ", "weights.safetensors", "has shape", str(10**12)
    )
    assert time.perf_counter() - start < 10  # (10**12 rows of 8 floats would take 32 TB, or an age to fail)
    assert "model.json" in line


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("command", ["predict", "eval"])
def test_an_index_without_best_is_one_line_and_last_still_loads(trained, copy, command, backend):
    _drop_best(copy)
    before = snapshot(copy)
    args = [copy, "good film"] if command == "predict" else [copy, trained.csvs["test"]]
    args += ["--backend", backend]
    assert_user_error(invoke(command, *args), str(copy), "no 'best' checkpoint", "names only last")
    assert snapshot(copy) == before
    ok(invoke(command, *args, "--checkpoint", "last"))


# --- 2. training state that would run code -------------------------------------------------------


class Touch:
    """Unpickling this calls Path.touch(path): a file made to run code when loaded."""

    def __init__(self, path: Path):
        self.path = path

    def __reduce__(self):
        return (Path.touch, (self.path,))


def test_resume_refuses_a_state_file_that_would_run_code(copy, tmp_path):
    marker = tmp_path / "MARKER"
    last = checkpoint_dir(copy, "last")
    torch.save({"progress": {"epoch": 1}, "payload": Touch(marker)}, last / "state.pt")
    reseal(last)  # the manifest agrees: only the loader stands between the file and the code
    before = snapshot(copy)
    assert_user_error(
        invoke("train", "--resume", copy, "-q"),
        f"{copy}: damaged run folder: ",
        f"{last.relative_to(copy)}/state.pt: refused",
    )
    assert not marker.exists()
    assert snapshot(copy) == before
    torch.load(last / "state.pt", weights_only=False)  # the payload is live: an unsafe load runs it
    assert marker.exists()


@pytest.mark.parametrize(
    "state", [{"unrelated": 1}, {"progress": {"epoch": "x"}}, "another run's"]
)  # (plain data that loads, but is not this run's state)
def test_resume_refuses_a_state_file_of_the_wrong_shape(copy, tmp_path, state):
    last = checkpoint_dir(copy, "last")
    if state == "another run's":  # a real state, of a model with other parameters
        other = torch.load(last / "state.pt", weights_only=True)
        other["optimizer"]["optimizers"] = other["optimizer"]["optimizers"][:1] * 3
        other["optimizer"]["optimizers"][0] = {"state": {}, "param_groups": [{"params": [0]}]}
        state = other
    torch.save(state, last / "state.pt")
    reseal(last)
    before = snapshot(copy)
    assert_user_error(invoke("train", "--resume", copy, "-q"), f"{copy}: damaged run folder: ", "state.pt")
    assert snapshot(copy) == before


@pytest.mark.parametrize(
    "change, fragment",
    [
        (lambda data: data + b"\0", "bytes, its manifest says"),
        (lambda data: data[:-1] + bytes([data[-1] ^ 0x01]), "its sha256 differs from its manifest"),
    ],
)
def test_resume_refuses_a_changed_state_file(copy, change, fragment):
    last = checkpoint_dir(copy, "last")
    (last / "state.pt").write_bytes(change((last / "state.pt").read_bytes()))
    before = snapshot(copy)
    assert_user_error(
        invoke("train", "--resume", copy, "-q"),
        f"{copy}: damaged run folder: ",
        f"{last.relative_to(copy)}/state.pt: ",
        fragment,
    )
    assert snapshot(copy) == before


# --- 3. a full disk during a save ----------------------------------------------------------------


def test_a_full_disk_at_the_second_save_keeps_epoch_one_and_resumes(trained, tmp_path, monkeypatch):
    real_save, saved = checkpoint_module.save_file, []

    def save_file(tensors, path, *args, **kwargs):
        if len(saved) == 1:  # epoch 2's checkpoint
            raise OSError(errno.ENOSPC, NO_SPACE)
        saved.append({k: v.clone() for k, v in tensors.items()})  # what epoch 1 saved, kept apart
        return real_save(tensors, path, *args, **kwargs)

    monkeypatch.setattr(checkpoint_module, "save_file", save_file)
    run = tmp_path / "run"
    line = assert_user_error(
        train_cli(trained.config, run), f"{run / 'checkpoints'}/step-", f"cannot write ({NO_SPACE})"
    )
    named = Path(line.removeprefix("error: ").split(": cannot write")[0])
    assert not named.exists()  # the checkpoint that failed is not there, whole or in part
    assert not [p for p in run.rglob("*") if p.name.startswith(".") and p.name != ".lock" or p.name.endswith(".tmp")]
    assert checkpoint_info(run, "best")["epoch"] == checkpoint_info(run, "last")["epoch"] == 1
    for name in ("best", "last"):
        weights = load_file(str(checkpoint_dir(run, name) / "weights.safetensors"))
        assert weights.keys() == saved[0].keys() and all(torch.equal(weights[k], saved[0][k]) for k in weights)
    ok(invoke("predict", run, "good film"))

    monkeypatch.setattr(checkpoint_module, "save_file", real_save)  # space again
    ok(invoke("train", "--resume", run, "-q"))
    assert epochs_logged(run) == list(range(1, EPOCHS + 1))
    assert checkpoint_info(run, "last")["epoch"] == EPOCHS
    assert (run / "metrics.json").is_file()


def test_a_full_disk_while_logging_an_epoch_is_one_line_and_resumes(trained, tmp_path, monkeypatch):
    """The disk fills in the middle of epoch 2's line of metrics.jsonl: half a line is written.
    Epoch 2's checkpoint was saved before it, and the resume logs epoch 2 again from there."""
    appends = []

    class HalfThenFull:
        def __init__(self, file):
            self.file = file

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.file.close()

        def write(self, text: str):
            self.file.write(text[: len(text) // 2])
            self.file.flush()
            raise OSError(errno.ENOSPC, NO_SPACE)

    def fake_open(path, mode="r", *args, **kwargs):
        file = builtins.open(path, mode, *args, **kwargs)
        if Path(path).name == "metrics.jsonl" and "a" in mode:
            appends.append(path)
            if len(appends) == 2:
                return HalfThenFull(file)
        return file

    monkeypatch.setattr(run_folder_module, "open", fake_open, raising=False)
    run = tmp_path / "run"
    assert_user_error(train_cli(trained.config, run), f"{run / 'metrics.jsonl'}: cannot write ({NO_SPACE})")
    assert len(appends) == 2  # (the fault was injected where it was meant to be)
    lines = (run / "metrics.jsonl").read_text().split("\n")
    assert len(lines) == 2 and json.loads(lines[0])["epoch"] == 1 and lines[1].startswith('{"epoch": 2')  # and half
    assert checkpoint_info(run, "last")["epoch"] == 2  # saved before its line
    ok(invoke("predict", run, "good film"))
    monkeypatch.undo()
    ok(invoke("train", "--resume", run, "-q"))
    assert epochs_logged(run) == list(range(1, EPOCHS + 1))  # the half line is gone, no epoch twice
    # Epoch 2's line is the one the full disk cut short, whole: the record its checkpoint kept.
    assert (run / "metrics.jsonl").read_text().splitlines()[1].startswith(lines[1])


def test_a_full_disk_while_writing_metrics_json_is_one_line_and_resumes(trained, tmp_path, monkeypatch):
    """atomic_write: the content reaches the disk at fsync, where a full disk is often first noticed."""
    real_fsync = files_module.fsync

    def fsync(path: Path) -> None:
        if path.name.startswith(".metrics.json."):
            raise OSError(errno.ENOSPC, NO_SPACE)
        real_fsync(path)

    monkeypatch.setattr(files_module, "fsync", fsync)
    run = tmp_path / "run"
    assert_user_error(train_cli(trained.config, run), f"{run / 'metrics.json'}: cannot write ({NO_SPACE})")
    assert not (run / "metrics.json").exists() and not list(run.glob(".metrics.json.*"))  # no half file, no leftover
    assert checkpoint_info(run, "last")["epoch"] == EPOCHS
    before = snapshot(run / "checkpoints")
    monkeypatch.undo()
    ok(invoke("train", "--resume", run, "-q"))  # every epoch is trained: the resume only scores and writes
    assert snapshot(run / "checkpoints") == before
    assert epochs_logged(run) == list(range(1, EPOCHS + 1))
    assert json.loads((run / "metrics.json").read_text())["valid"]


def test_eval_json_onto_a_full_disk_keeps_the_earlier_file(trained, tmp_path, monkeypatch):
    earlier = tmp_path / "m.json"
    earlier.write_text('{"earlier": true}\n')
    monkeypatch.setattr(files_module, "fsync", enospc)
    assert_user_error(
        invoke("eval", trained.run, trained.csvs["test"], "--json", earlier), f"{earlier}: cannot write ({NO_SPACE})"
    )
    assert earlier.read_text() == '{"earlier": true}\n'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.json"]  # no temporary file left beside it


# --- 4. an output folder that cannot be written --------------------------------------------------


@pytest.fixture
def no_training(monkeypatch):
    """Fails the test if any data is read (the refusal must come first)."""

    def load_datasets(config, task):
        raise AssertionError("the data was read before the output folder was checked")

    monkeypatch.setattr(train_module, "load_datasets", load_datasets)


def test_out_under_a_regular_file_is_refused_before_training(trained, tmp_path, no_training):
    blocker = tmp_path / "somefile"
    blocker.write_text("keep me\n")
    out = blocker / "run"
    assert_user_error(train_cli(trained.config, out), str(out), f"{blocker} is not a folder")
    assert blocker.read_text() == "keep me\n"


def test_out_that_exists_as_a_file_is_refused_before_training(trained, tmp_path, no_training):
    out = tmp_path / "run"
    out.write_text("keep me\n")
    assert_user_error(train_cli(trained.config, out, "--overwrite"), str(out), "not a folder")
    assert out.read_text() == "keep me\n"


def test_an_unwritable_out_folder_is_refused_before_training(trained, tmp_path, monkeypatch, no_training):
    """Fault injection (tests run as root, which permissions cannot stop)."""
    parent = tmp_path / "readonly"
    parent.mkdir()
    (parent / "keep.txt").write_text("keep me\n")

    def denied(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(tempfile, "TemporaryFile", denied)
    assert_user_error(
        train_cli(trained.config, parent / "run"),
        f"{parent / 'run'}: cannot write the run folder there",
        "Permission denied",
    )
    assert sorted(p.name for p in parent.iterdir()) == ["keep.txt"]


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_out_folder_is_refused_before_training(trained, tmp_path, no_training):
    parent = tmp_path / "readonly"
    parent.mkdir()
    parent.chmod(0o555)
    try:
        assert_user_error(train_cli(trained.config, parent / "run"), str(parent / "run"), "Permission denied")
        assert list(parent.iterdir()) == []
    finally:
        parent.chmod(0o755)


# --- 5. a training already writing the folder ----------------------------------------------------


def test_a_locked_run_is_refused_and_overwritable_once_released(trained, copy):
    before = snapshot(copy)
    lock = RunLock(copy)
    try:
        assert_user_error(train_cli(trained.config, copy, "--overwrite"), str(copy), "another training")
        assert snapshot(copy) == before
        assert_user_error(
            invoke("train", "--resume", copy, "-q", "--set", "train.epochs=4"), str(copy), "another training"
        )
        assert snapshot(copy) == before
    finally:
        lock.release()
    ok(train_cli(trained.config, copy, "--overwrite", "--set", "train.epochs=1"))
    assert epochs_logged(copy) == [1]  # the new run, alone: nothing of the old one mixed in


def test_a_lock_held_by_another_process_refuses_and_dies_with_it(trained, copy):
    """Another process holds RUN/.lock (as RunLock takes it, without importing torch: faster): `textcls
    train` in a third is refused; killing the holder (SIGKILL: no clean-up runs) frees the folder."""
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from filelock import FileLock; lock = FileLock(sys.argv[1]); "
            "lock.acquire(timeout=0); print('held', flush=True); sys.stdin.read()",
            str(copy / ".lock"),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        before = snapshot(copy)
        result = subprocess.run(
            [sys.executable, "-m", "textcls", "train", "-c", str(trained.config), "-o", str(copy), "--overwrite", "-q"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 1, result.stderr
        assert "Traceback" not in result.stderr
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and "another training" in lines[0] and str(copy) in lines[0], result.stderr
        assert snapshot(copy) == before
    finally:
        holder.kill()
        holder.wait(timeout=30)
    ok(train_cli(trained.config, copy, "--overwrite", "--set", "train.epochs=1"))
    assert epochs_logged(copy) == [1]


# --- 6. eval --json into a folder that does not exist --------------------------------------------


def test_eval_json_creates_missing_folders(trained, tmp_path):
    target = tmp_path / "missing" / "deeper" / "m.json"
    result = ok(invoke("eval", trained.run, trained.csvs["test"], "-f", "json", "--json", target))
    assert json.loads(target.read_text()) == json.loads(result.stdout)


def test_eval_json_under_a_regular_file_is_one_line(trained, tmp_path):
    blocker = tmp_path / "somefile"
    blocker.write_text("keep me\n")
    assert_user_error(
        invoke("eval", trained.run, trained.csvs["test"], "--json", blocker / "m.json"),
        str(blocker / "m.json"),
        "cannot write",
    )
    assert blocker.read_text() == "keep me\n"


@pytest.mark.parametrize(
    "command", ["eval --json", "eval --predictions", "predict --csv --out", "export --out", "embed --out"]
)
def test_output_files_are_checked_before_the_work(trained, tmp_path, monkeypatch, command):
    """An output that cannot be written fails before any scoring (which would fail the test)."""
    from textcls import predict as predict_module

    def no_work(*args, **kwargs):
        raise AssertionError("scored before checking the output file")

    for name in ("evaluate_file", "predict_frame"):
        monkeypatch.setattr(predict_module, name, no_work)
    blocker = tmp_path / "somefile"
    blocker.write_text("keep me\n")
    args = {
        "export --out": ["export", trained.run, "--out", blocker / "m.onnx"],
        "embed --out": ["embed", trained.run, "--file", trained.csvs["test"], "--out", blocker / "v.npy"],
        "eval --json": ["eval", trained.run, trained.csvs["test"], "--json", blocker / "m.json"],
        "eval --predictions": ["eval", trained.run, trained.csvs["test"], "--predictions", blocker / "p.csv"],
        "predict --csv --out": ["predict", trained.run, "--csv", trained.csvs["test"], "--out", blocker / "p.csv"],
    }[command]
    assert_user_error(invoke(*args), str(blocker), "cannot write", f"{command.split()[-1]} ")
    folder = tmp_path / "a-folder"
    folder.mkdir()
    assert_user_error(invoke(*args[:-1], folder), "is a folder")
    assert blocker.read_text() == "keep me\n"


# --- 7. the reproductions ----------------------------------------------------------------


def _no_nan_json(path: Path) -> None:
    def refuse(constant):
        raise AssertionError(f"{path} holds {constant}")

    text = path.read_text()
    for line in text.splitlines() if path.suffix == ".jsonl" else [text]:
        if line.strip():
            json.loads(line, parse_constant=refuse)


def test_divergence_in_the_first_epoch_is_one_line_and_leaves_no_nan(tmp_path, sentiment_csvs):
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
        "train.epochs=1",
    )
    assert_user_error(result, "training diverged")
    files = [p for p in run.rglob("*") if p.suffix in (".json", ".jsonl")]
    assert any(p.name == "model.json" for p in files)
    for path in files:
        _no_nan_json(path)
    assert not list(run.rglob("*.safetensors"))
    assert_user_error(invoke("predict", run, "good film"), str(run), "'best'")


@pytest.mark.parametrize(
    "content, fragments",
    [
        ("text,label\ngood movie,pos,x\nbad movie,neg,y\n", ["row 1", "more fields than the header"]),
        ("text,label\ngood movie,pos\nbad movie,neg,y\nfine,pos\n", ["row 2", "3 fields"]),
    ],
)
def test_a_csv_row_longer_than_its_header_is_one_line(tmp_path, sentiment_csvs, content, fragments):
    bad = tmp_path / "long.csv"
    bad.write_text(content)
    config = write_config(tmp_path / "c.yaml", {**sentiment_csvs, "train": bad}, tmp_path / "runs")
    assert_user_error(train_cli(config, tmp_path / "run"), str(bad), *fragments)
    assert not (tmp_path / "run").exists()


def test_a_rare_class_that_a_random_split_would_send_to_validation_trains(tmp_path):
    """The reproduction: two rows of 'rare' among 40, half split off for validation. A seed is
    chosen for which a plain random permutation (computed here) puts both in validation."""
    import numpy as np

    from conftest import write_csv

    rows = [[f"word{i} filler", "rare" if i < 2 else ("pos" if i % 2 else "neg")] for i in range(40)]
    train = write_csv(tmp_path / "t.csv", ["text", "label"], rows)
    seed = next(s for s in range(1000) if {0, 1} <= set(np.random.RandomState(s).permutation(40)[:20].tolist()))
    config = write_config(
        tmp_path / "c.yaml", {"train": train, "valid": 0.5}, tmp_path / "runs", train={"epochs": 1, "seed": seed}
    )
    ok(train_cli(config, tmp_path / "run"))
    assert json.loads((tmp_path / "run" / "labels.json").read_text()) == ["neg", "pos", "rare"]


def test_a_boolean_for_a_number_is_one_line(trained, tmp_path):
    assert_user_error(
        train_cli(trained.config, tmp_path / "run", "--set", "train.epochs=true"),
        "train.epochs",
        "expected a number, got true",
    )
    assert not (tmp_path / "run").exists()


def test_a_config_run_from_another_folder_says_where_relative_paths_are_read(tmp_path, monkeypatch):
    (tmp_path / "elsewhere").mkdir()
    config = tmp_path / "c.yaml"
    config.write_text("data:\n  train: data/train.csv\ntrain:\n  epochs: 1\n")
    monkeypatch.chdir(tmp_path / "elsewhere")
    assert_user_error(
        invoke("train", "-c", config, "-q"),
        "data/train.csv",
        "relative paths are read from the current folder",
        str(tmp_path / "elsewhere"),
    )


def test_resume_with_a_vocabulary_that_does_not_fit_the_weights_is_one_line(copy):
    _edit_json(copy, "vocab.json", lambda d: {**d, "tokens": d["tokens"] + ["extra"]})
    before = snapshot(copy)
    assert_user_error(
        invoke("train", "--resume", copy, "-q"),
        f"{copy}: damaged run folder: ",
        "weights.safetensors",
        "'embedding.weight' has shape",
    )
    assert snapshot(copy) == before


def test_resume_of_a_run_without_checkpoints_is_one_line(copy):
    shutil.rmtree(copy / "checkpoints")
    assert_user_error(invoke("train", "--resume", copy, "-q"), str(copy), "no 'last' checkpoint")


def test_the_shared_run_is_as_it_was_trained(trained):
    """The tests above damage copies, never the shared run (last in the file: it runs after them)."""
    ok(invoke("predict", trained.run, "good film"))
    assert snapshot(trained.run) == trained.files
