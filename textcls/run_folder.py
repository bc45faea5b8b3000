"""Run folders: their layout, the lock a training holds, and the files that describe a run, written
and read back checked. The checkpoints inside live in checkpoint_files.py; loading a model from
them in checkpoint.py.

A run folder holds everything needed to rebuild the model and its input pipeline:
    config.yaml   the resolved config (data paths absolute)   vocab.json   the word vocabulary
    labels.json   class or tag names, in index order
    model.json    what the config leaves open (resolved loss, outputs, feature count)
    checkpoints/index.json        which checkpoint folder is `best` and which is `last`
    checkpoints/step-NNNNNNNNN/   one checkpoint: weights.safetensors, info.json (epoch, step, score,
                                  and at an epoch's end its metrics.jsonl record), state.pt
                                  (optimiser, schedule, progress and random-number states: tensors
                                  and plain data only; kept while it is `last`), and manifest.json
                                  (each file's size and sha256, written last)
    metrics.jsonl one line per epoch, appended once the epoch's checkpoint is saved
    task.json     what the task tuned on validation (e.g. decision thresholds), when it tunes anything
    lexicons.json the valences of model.lexicon_features' files, when it names any (predicting reads
                  these, not the files)
    .lock         held while a training writes the folder

An epoch's checkpoint is saved before its metrics.jsonl line is written, and keeps that line in
info.json: no line is logged before its epoch's checkpoint is on disk, and a crash between the two
costs only the line, which a resume appends again from `last`. (A run saved before checkpoints
kept their line has no record in info.json: it loads and resumes as it is.)

`model.json` carries FORMAT_VERSION: a run written by an incompatible version is refused with a
one-line error instead of loading into the wrong model.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from textcls.config import Config, config_from_dict, read_yaml, upgrade_saved_config
from textcls.errors import ConfigError, RunError, first_line
from textcls.files import atomic_write, cannot_write, check_writable, finite, write_json
from textcls.lexicon_features import from_json as lexicons_from_json
from textcls.lexicon_features import to_json as lexicon_json
from textcls.losses import LOSSES
from textcls.tasks import task_of
from textcls.vocab import Vocabulary

if TYPE_CHECKING:
    from textcls.features import Featurizer

FORMAT_VERSION = 3  # 3: checkpoint folders with manifests (2: flat data path); older runs must be retrained
CHECKPOINTS = "checkpoints"  # the folder of checkpoints (see checkpoint_files.py)


class RunLock:
    """Held while a training writes a run folder: a second training into it is refused. The
    operating system releases it when the process ends, however it ends."""

    def __init__(self, run_dir: Path):
        from filelock import FileLock, Timeout

        self._lock = FileLock(str(run_dir / ".lock"))
        try:
            self._lock.acquire(timeout=0)
        except Timeout:
            raise RunError(
                f"{run_dir}: another training is writing to this folder (wait for it, or choose another --out)"
            ) from None
        except OSError as exc:
            raise cannot_write(run_dir / ".lock", exc) from None

    def release(self) -> None:
        self._lock.release()


def new_run_dir(out: str | Path | None, overwrite: bool, name: str, parent: str) -> tuple[Path, RunLock]:
    """The folder a new run writes to, locked. An existing non-empty folder is refused unless
    `overwrite`; its old contents are removed only once the lock is held."""
    if out is None:
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        out = Path(parent) / f"{name}-{stamp}"
        suffix = 1
        while out.exists():
            out, suffix = Path(parent) / f"{name}-{stamp}-{suffix}", suffix + 1
    out = Path(out)
    check_writable(out)
    if out.is_dir() and any(p.name != ".lock" for p in out.iterdir()) and not overwrite:
        raise RunError(f"{out}: folder exists and is not empty (choose another --out, or pass --overwrite)")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise cannot_write(out, exc) from None
    lock = RunLock(out)
    # Nothing of the earlier run may mix with the new one (a stale checkpoint could be loaded).
    for stale in [
        "metrics.jsonl",
        "metrics.json",
        "model.json",
        "config.yaml",
        "vocab.json",
        "labels.json",
        "task.json",
        "lexicons.json",
    ]:
        (out / stale).unlink(missing_ok=True)
    for folder in (CHECKPOINTS, "export", "report"):  # (an old export would be served for the new weights)
        shutil.rmtree(out / folder, ignore_errors=True)
    (out / CHECKPOINTS).mkdir()
    return out, lock


def damaged(run_dir: Path, file: str, why: str) -> RunError:
    return RunError(f"{run_dir}: damaged run folder: {file}: {why}")


def check_feature_count(run_dir: Path, files: "RunFiles", num_features: int) -> None:
    """The ids the vocabulary and config.yaml's features make (`num_features`: words and hash
    buckets, one id each) must be model.json's, else the folder is damaged."""
    if num_features != files.info["num_features"]:
        raise damaged(
            run_dir,
            "vocab.json",
            f"{len(files.vocab)} words and config.yaml's features make "
            f"{num_features} ids, model.json says {files.info['num_features']}",
        )


def run_json(run_dir: Path, file: str):
    """A JSON file of the run folder; missing or not JSON is a damaged folder (one line)."""
    path = run_dir / file
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise damaged(run_dir, file, "missing") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise damaged(run_dir, file, f"not valid JSON ({exc})") from None


def read_log(run_dir: Path) -> list[dict]:
    """metrics.jsonl's records, one per epoch. A last line cut short (the process ended while
    writing it) is left out; any other line that is not a JSON object is a damaged folder."""
    lines = [line for line in (run_dir / "metrics.jsonl").read_text(encoding="utf-8").splitlines() if line.strip()]
    records = []
    for number, line in enumerate(lines, 1):
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            record = None
        if not isinstance(record, dict):
            if number == len(lines):
                break
            raise damaged(run_dir, "metrics.jsonl", f"line {number} is not a JSON object")
        records.append(record)
    return records


def log_line(record: dict) -> str:
    """An epoch's line of metrics.jsonl (null, never NaN): as training appends it and a resume rewrites it."""
    return json.dumps(finite(record), allow_nan=False) + "\n"


def append_log(run_dir: Path, record: dict) -> None:
    """Appends an epoch's line to metrics.jsonl. It reaches the disk (fsync) before the next epoch's
    checkpoint can, so the one line a crash can lose is that of the latest checkpoint, which keeps it."""
    path = run_dir / "metrics.jsonl"
    try:
        with open(path, "a", encoding="utf-8") as log:
            log.write(log_line(record))
            log.flush()
            os.fsync(log.fileno())
    except OSError as exc:
        raise cannot_write(path, exc) from None


def save_run_files(run_dir: Path, config: Config, featurizer: Featurizer, model_info: dict) -> None:
    save_config(run_dir, config)
    write_json(run_dir / "vocab.json", featurizer.vocab.to_json())
    write_json(run_dir / "labels.json", featurizer.labels)
    if featurizer.lexicons:
        write_json(run_dir / "lexicons.json", lexicon_json(featurizer.lexicons))
    write_json(run_dir / "model.json", model_info)


def save_config(run_dir: Path, config: Config) -> None:
    text = yaml.safe_dump(config.to_dict(), sort_keys=False, allow_unicode=True)
    atomic_write(run_dir / "config.yaml", lambda p: p.write_text(text, encoding="utf-8"))


@dataclass
class RunFiles:
    """A run folder's description, checked: enough to rebuild its featurizer and (empty) model."""

    config: Config
    vocab: Vocabulary
    labels: list[str]
    info: dict  # model.json
    lexicons: list = field(default_factory=list)  # lexicons.json (model.lexicon_features), read


def read_run_files(run_dir: str | Path) -> RunFiles:
    """config.yaml, vocab.json, labels.json and model.json, each checked: a damaged file is one line
    naming it ("RUN: damaged run folder: FILE: why")."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunError(f"{run_dir}: no such run folder")
    if not (run_dir / "model.json").is_file():
        missing = "config.yaml" if not (run_dir / "config.yaml").is_file() else "model.json"
        raise RunError(f"{run_dir}: not a textcls run folder (missing {missing})")
    info = run_json(run_dir, "model.json")
    if not isinstance(info, dict):
        raise damaged(run_dir, "model.json", "not a JSON object")
    if info.get("format_version") != FORMAT_VERSION:
        raise RunError(
            f"{run_dir}: written by another textcls version (run format {info.get('format_version', 1)}, this "
            f"version reads {FORMAT_VERSION}); train it again with `textcls train`"
        )
    for key, kind in [("task", str), ("loss", str), ("outputs", int), ("log_softmax", bool), ("num_features", int)]:
        if key not in info:
            raise damaged(run_dir, "model.json", f"missing key '{key}'")
        if not isinstance(info[key], kind) or (kind is int and (isinstance(info[key], bool) or info[key] < 1)):
            raise damaged(
                run_dir,
                "model.json",
                f"'{key}' is {info[key]!r}, not a {'positive whole number' if kind is int else kind.__name__}",
            )
    if info["loss"] not in LOSSES:
        raise damaged(
            run_dir, "model.json", f"'loss' is {info['loss']!r}, not a loss this version knows ({', '.join(LOSSES)})"
        )
    try:
        saved = read_yaml((run_dir / "config.yaml").read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise damaged(run_dir, "config.yaml", "missing") from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:  # a !!python/object tag is refused here: safe_load builds none
        raise damaged(run_dir, "config.yaml", f"not a plain YAML config ({first_line(exc)})") from None
    if not isinstance(saved, dict):
        raise damaged(run_dir, "config.yaml", "not a mapping of sections")
    try:
        config = config_from_dict(upgrade_saved_config(saved), str(run_dir / "config.yaml"))
    except ConfigError as exc:
        raise damaged(run_dir, "config.yaml", str(exc)) from None
    vocab_json = run_json(run_dir, "vocab.json")
    tokens = vocab_json.get("tokens") if isinstance(vocab_json, dict) else None
    if not isinstance(tokens, list) or len(tokens) < 2 or not all(isinstance(t, str) for t in tokens):
        raise damaged(run_dir, "vocab.json", "needs 'tokens', a list of words starting with <pad> and <unk>")
    trained = vocab_json.get("trained")
    if trained is not None and (not isinstance(trained, int) or not 2 <= trained <= len(tokens)):
        raise damaged(run_dir, "vocab.json", f"'trained' is {trained!r}, not a word count")
    labels = run_json(run_dir, "labels.json")
    if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
        raise damaged(run_dir, "labels.json", "needs a list of label names")
    if not labels and task_of(config).has_classes:
        raise damaged(run_dir, "labels.json", f"holds no label, and task '{config.task}' needs its classes")
    if len(set(labels)) != len(labels):
        raise damaged(run_dir, "labels.json", "a label appears twice")
    lexicons = []
    if config.model.lexicon_features:
        try:
            lexicons = lexicons_from_json(run_json(run_dir, "lexicons.json"))
        except ValueError as exc:
            raise damaged(run_dir, "lexicons.json", str(exc)) from None
        if len(lexicons) != len(config.model.lexicon_features):
            raise damaged(
                run_dir,
                "lexicons.json",
                f"{len(lexicons)} lexicons for config.yaml's {len(config.model.lexicon_features)}",
            )
    return RunFiles(config, Vocabulary.from_json(vocab_json), labels, info, lexicons)


def _check_tuned(run_dir: Path, state: dict, labels: list[str]) -> None:
    """What a task tuned on validation (task.json), checked: a positive temperature, a threshold, one
    threshold in [0, 1] per label."""
    number = lambda x: isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)
    if "temperature" in state and not (number(state["temperature"]) and state["temperature"] > 0):
        raise damaged(run_dir, "task.json", f"'temperature' is {state['temperature']!r}, not a positive number")
    if "threshold" in state and not number(state["threshold"]):
        raise damaged(run_dir, "task.json", f"'threshold' is {state['threshold']!r}, not a number")
    if "thresholds" in state:
        values = state["thresholds"]
        if not (
            isinstance(values, list) and len(values) == len(labels) and all(number(v) and 0 <= v <= 1 for v in values)
        ):
            raise damaged(run_dir, "task.json", f"'thresholds' must be {len(labels)} numbers in [0, 1], one per label")


def read_task_state(run_dir: Path, labels: list[str]) -> dict:
    """task.json, what the run's task tuned on validation, checked; {} when it tuned nothing."""
    state = run_json(run_dir, "task.json") if (run_dir / "task.json").is_file() else {}
    if not isinstance(state, dict):
        raise damaged(run_dir, "task.json", "not a JSON object")
    _check_tuned(run_dir, state, labels)
    return state
