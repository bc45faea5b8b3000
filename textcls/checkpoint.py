"""Run folders and checkpoints: written as a whole, checked on load, loaded without executing code.

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
    .lock         held while a training writes the folder

A checkpoint is written into a hidden folder, which is renamed into place once complete, and only
then does index.json (replaced in one step) point to it: a crash at any moment leaves `best` and
`last` each wholly from one step. Folders the index does not name are leftovers, removed after each
save and when a training reopens the run.

An epoch's checkpoint is saved before its metrics.jsonl line is written, and keeps that line in
info.json: no line is logged before its epoch's checkpoint is on disk, and a crash between the two
costs only the line, which a resume appends again from `last`. (A run saved before checkpoints
kept their line has no record in info.json: it loads and resumes as it is.)

`model.json` carries FORMAT_VERSION: a run written by an incompatible version is refused with a
one-line error instead of loading into the wrong model.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import torch
import yaml
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from textcls.batching import Featurizer
from textcls.config import Config, config_from_dict, read_yaml, upgrade_saved_config
from textcls.data import make_tokenizer
from textcls.errors import ConfigError, RunError, first_line
from textcls.models import TextModel, build_model
from textcls.tasks import Task, task_of
from textcls.vocab import Vocabulary


FORMAT_VERSION = 3  # 3: checkpoint folders with manifests (2: flat data path); older runs must be retrained

CHECKPOINTS = "checkpoints"
INDEX = "index.json"
MANIFEST = "manifest.json"
WEIGHTS = "weights.safetensors"
STATE = "state.pt"
INFO = "info.json"

_UMASK = os.umask(0)
os.umask(_UMASK)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def cannot_write(path: Path, exc: OSError) -> RunError:
    return RunError(f"{path}: cannot write ({exc.strerror or exc}); files written before are kept as they were")


def _nearest_existing(path: Path) -> Path:
    """`path`, or the closest of its parents that exists (at worst the current folder or the root)."""
    return next(p for p in [path, *path.parents] if p.exists() or p == Path(p.anchor or "."))


def atomic_write(path: Path, write) -> None:
    """`write(tmp_path)` fills a temporary file beside `path`, which then replaces `path` in one step,
    so a crash never leaves a half-written file under the real name. A failed write (e.g. a full
    disk) is one error naming `path`, and `path` keeps its earlier content."""
    tmp = None
    existing = _nearest_existing(path.parent)
    if not existing.is_dir():  # (mkdir would only say "File exists")
        raise RunError(f"{path}: cannot write ({existing} is not a folder)")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        os.close(fd)
        write(Path(tmp))
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes files private; give them the usual permissions
        _fsync(Path(tmp))  # the content reaches the disk before the name does
        os.replace(tmp, path)
    except OSError as exc:
        raise cannot_write(path, exc) from None
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)


def finite(data, digits: int | None = None):
    """`data` with every NaN or infinite float as None (valid JSON has no NaN), and with `digits`
    every float rounded to that many decimals."""
    if isinstance(data, float):
        return None if not math.isfinite(data) else data if digits is None else round(data, digits)
    if isinstance(data, dict):
        return {k: finite(v, digits) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [finite(v, digits) for v in data]
    return data


def json_text(data) -> str:
    return json.dumps(finite(data), indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def write_json(path: Path, data) -> None:
    text = json_text(data)
    atomic_write(path, lambda p: p.write_text(text, encoding="utf-8"))


def check_writable(out: str | Path) -> None:
    """Fails now, in one line, if a run folder at `out` could not be written (before any training)."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise RunError(f"{out}: exists and is not a folder")
    _check_creatable(out, f"{out}: cannot create the run folder", f"{out}: cannot write the run folder there")


def _check_creatable(path: Path, cannot_create: str, cannot_write: str) -> None:
    """That `path` can be made: its nearest existing folder is a folder that takes a new file (the
    one way to know, whoever runs this: root ignores permissions, a read-only mount does not)."""
    existing = _nearest_existing(path)
    if not existing.is_dir():
        raise RunError(f"{cannot_create} ({existing} is not a folder)")
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as exc:
        raise RunError(f"{cannot_write} ({exc.strerror or exc})") from None


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


def check_output_file(path: Path, option: str) -> None:
    """Fails now, in one line, if the file `option` names could not be written once the work is
    done: a folder, a path under a regular file, or a folder that takes no file."""
    if path.is_dir():
        raise RunError(f"{option} {path}: is a folder (give a file name)")
    _check_creatable(path.parent, f"{option} {path}: cannot write", f"{option} {path}: cannot write there")


class RunLock:
    """Held while a training writes a run folder: a second training into it is refused. The
    operating system releases it when the process ends, however it ends."""

    def __init__(self, run_dir: Path):
        from filelock import FileLock, Timeout

        self._lock = FileLock(str(run_dir / ".lock"))
        try:
            self._lock.acquire(timeout=0)
        except Timeout:
            raise RunError(f"{run_dir}: another training is writing to this folder (wait for it, or choose another --out)") from None
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
    for stale in ["metrics.jsonl", "metrics.json", "model.json", "config.yaml", "vocab.json", "labels.json", "task.json"]:
        (out / stale).unlink(missing_ok=True)
    for folder in (CHECKPOINTS, "export", "report"):  # (an old export would be served for the new weights)
        shutil.rmtree(out / folder, ignore_errors=True)
    (out / CHECKPOINTS).mkdir()
    return out, lock


# --- checkpoints ---------------------------------------------------------------------------------


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _manifest(folder: Path, names: list[str]) -> dict:
    return {"files": {n: {"bytes": (folder / n).stat().st_size, "sha256": _sha256(folder / n)} for n in names}}


def read_index(run_dir: Path) -> dict[str, str]:
    """{"best": folder name, "last": folder name} (either may be missing)."""
    path = run_dir / CHECKPOINTS / INDEX
    if not path.is_file():
        return {}
    index = run_json(run_dir, f"{CHECKPOINTS}/{INDEX}")
    if not isinstance(index, dict) or not all(isinstance(v, str) and v.startswith("step-") and "/" not in v
                                              for v in index.values()):
        raise damaged(run_dir, f"{CHECKPOINTS}/{INDEX}", "not a map of checkpoint names to step-N folders")
    return index


def save_checkpoint(run_dir: Path, names: list[str], model: TextModel, info: dict, training_state: dict | None = None) -> None:
    """A checkpoint of `model` (with `info`, and `training_state` when given), becoming `names`
    (e.g. ["best", "last"]) in one step. A failure leaves every earlier checkpoint as it was."""
    folder = run_dir / CHECKPOINTS
    final = folder / f"step-{info['step']:09d}"
    index = read_index(run_dir)
    suffix = 1
    while final.exists():  # (e.g. saved at this step already before an interrupt)
        final, suffix = folder / f"step-{info['step']:09d}-{suffix}", suffix + 1
    tmp = None
    try:
        tmp = Path(tempfile.mkdtemp(dir=folder, prefix=f".{final.name}.", suffix=".tmp"))
        os.chmod(tmp, 0o777 & ~_UMASK)
        save_file({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}, str(tmp / WEIGHTS))
        files = [WEIGHTS, INFO]
        (tmp / INFO).write_text(json_text(info), encoding="utf-8")
        if training_state is not None:
            torch.save(training_state, tmp / STATE)
            files.append(STATE)
        for name in files:
            os.chmod(tmp / name, 0o666 & ~_UMASK)  # (the usual permissions, whatever the writer chose)
            _fsync(tmp / name)
        (tmp / MANIFEST).write_text(json_text(_manifest(tmp, files)), encoding="utf-8")  # last: its presence means complete
        _fsync(tmp / MANIFEST)
        os.rename(tmp, final)
        tmp = None
        write_json(folder / INDEX, {**index, **{name: final.name for name in names}})
    except OSError as exc:
        raise cannot_write(final, exc) from None
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    remove_leftovers(run_dir)


def remove_leftovers(run_dir: Path) -> None:
    """Removes what the index no longer names (earlier checkpoints, half-written ones, temporary
    files of interrupted writes), and the training state of a `best` that is no longer `last`
    (only `last` resumes). Called by the training that holds the run's lock."""
    folder = run_dir / CHECKPOINTS
    if not folder.is_dir():
        return
    index = read_index(run_dir)
    for path in list(folder.iterdir()) + list(run_dir.glob(".*.tmp")):
        if path.name != INDEX and path.name not in index.values() and path.name != ".lock":
            shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
    best, last = index.get("best"), index.get("last")
    if best and best != last and (folder / best / STATE).is_file():
        manifest = run_json(run_dir, f"{CHECKPOINTS}/{best}/{MANIFEST}")
        manifest["files"].pop(STATE, None)
        write_json(folder / best / MANIFEST, manifest)  # first the manifest stops listing it, then it goes
        (folder / best / STATE).unlink()


def damaged(run_dir: Path, file: str, why: str) -> RunError:
    return RunError(f"{run_dir}: damaged run folder: {file}: {why}")


def run_json(run_dir: Path, file: str):
    """A JSON file of the run folder; missing or not JSON is a damaged folder (one line)."""
    path = run_dir / file
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise damaged(run_dir, file, "missing") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise damaged(run_dir, file, f"not valid JSON ({exc})") from None


def checkpoint_dir(run_dir: str | Path, name: str = "best", hashed: tuple[str, ...] | None = None) -> Path:
    """The folder of checkpoint `name`, its files checked against its manifest: every size, and the
    sha256 of the files in `hashed` (None: all), those about to be read. A truncated, changed or
    missing file is refused in one line."""
    run_dir = Path(run_dir)
    index = read_index(run_dir)
    if name not in index:
        saved = f"{CHECKPOINTS}/{INDEX} names only {', '.join(sorted(index))}" if index else "the run saved none yet"
        raise RunError(f"{run_dir}: no '{name}' checkpoint ({saved})")
    folder = run_dir / CHECKPOINTS / index[name]
    manifest = run_json(run_dir, f"{CHECKPOINTS}/{index[name]}/{MANIFEST}")
    files = manifest.get("files") if isinstance(manifest, dict) else None
    if not isinstance(files, dict) or WEIGHTS not in files:
        raise damaged(run_dir, f"{CHECKPOINTS}/{index[name]}/{MANIFEST}", "lists no weights")
    for file, entry in files.items():
        rel, path = f"{CHECKPOINTS}/{index[name]}/{file}", folder / file
        if not path.is_file():
            raise damaged(run_dir, rel, "missing")
        if not isinstance(entry, dict) or path.stat().st_size != entry.get("bytes"):
            raise damaged(run_dir, rel, f"{path.stat().st_size} bytes, its manifest says {entry.get('bytes') if isinstance(entry, dict) else '?'} (truncated or changed)")
        if (hashed is None or file in hashed) and _sha256(path) != entry.get("sha256"):
            raise damaged(run_dir, rel, "its sha256 differs from its manifest (the file was changed)")
    return folder


def checkpoint_info(run_dir: str | Path, name: str = "best") -> dict:
    """Epoch, step and score of checkpoint `name`."""
    run_dir = Path(run_dir)
    folder = checkpoint_dir(run_dir, name, hashed=(INFO,))
    return run_json(run_dir, str(folder.relative_to(run_dir) / INFO))


def load_training_state(run_dir: Path, name: str = "last", folder: Path | None = None) -> dict:
    """Optimiser, schedule, progress and RNG state (from `folder`, when the caller has checked it
    already); `weights_only=True` refuses anything but tensors and plain data, so a file made to
    run code when unpickled is refused, and runs nothing."""
    folder = folder or checkpoint_dir(run_dir, name, hashed=(STATE,))
    if not (folder / STATE).is_file():
        raise RunError(f"{run_dir}: checkpoint '{name}' holds no training state to resume from")
    try:
        return torch.load(folder / STATE, weights_only=True)
    except Exception as exc:  # pickle's and torch's many errors: all mean "not a state file this reads"
        raise damaged(run_dir, str((folder / STATE).relative_to(run_dir)), f"refused ({first_line(exc)})") from None


def load_weights(run_dir: Path, name: str = "best", folder: Path | None = None) -> dict[str, torch.Tensor]:
    """The weights of checkpoint `name` (in `folder`, when the caller has checked it already)."""
    folder = folder or checkpoint_dir(run_dir, name, hashed=(WEIGHTS,))
    try:
        return load_file(str(folder / WEIGHTS))
    except Exception as exc:  # safetensors raises its own error type for a damaged file
        raise damaged(run_dir, str((folder / WEIGHTS).relative_to(run_dir)), f"not a readable weight file ({exc})") from None


# --- run folders ---------------------------------------------------------------------------------


@dataclass
class Run:
    """A trained run, loaded back: config, input pipeline and model, ready to evaluate or predict."""

    dir: Path
    config: Config
    featurizer: Featurizer
    model: TextModel
    loss_name: str
    device: torch.device

    @property
    def labels(self) -> list[str]:
        return self.featurizer.labels

    @property
    def task(self) -> Task:
        return self.featurizer.task


def save_run_files(run_dir: Path, config: Config, featurizer: Featurizer, model_info: dict) -> None:
    save_config(run_dir, config)
    write_json(run_dir / "vocab.json", featurizer.vocab.to_json())
    write_json(run_dir / "labels.json", featurizer.labels)
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
        raise RunError(f"{run_dir}: written by another textcls version (run format {info.get('format_version', 1)}, this "
                       f"version reads {FORMAT_VERSION}); train it again with `textcls train`")
    for key, kind in [("task", str), ("loss", str), ("outputs", int), ("log_softmax", bool), ("num_features", int)]:
        if key not in info:
            raise damaged(run_dir, "model.json", f"missing key '{key}'")
        if not isinstance(info[key], kind) or (kind is int and (isinstance(info[key], bool) or info[key] < 1)):
            raise damaged(run_dir, "model.json", f"'{key}' is {info[key]!r}, not a {'positive whole number' if kind is int else kind.__name__}")
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
    return RunFiles(config, Vocabulary.from_json(vocab_json), labels, info)


def _finite(tensor: torch.Tensor) -> bool:
    """Whether every value is finite: min and max are NaN where any value is, infinite where any is
    (one pass, no copy or mask of the tensor)."""
    low, high = torch.aminmax(tensor)
    return math.isfinite(low) and math.isfinite(high)


def header_shapes(run_dir: Path, folder: Path) -> dict[str, tuple]:
    """The shape of each tensor in a checkpoint's weight file, from its header (no tensor is read)."""
    try:
        with safe_open(str(folder / WEIGHTS), framework="pt") as f:
            return {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
    except Exception as exc:  # safetensors raises its own error type for a damaged header
        raise damaged(run_dir, str((folder / WEIGHTS).relative_to(run_dir)), f"not a readable weight file ({exc})") from None


def load_checked(model: TextModel, run_dir: Path, folder: Path, shapes: dict[str, tuple]) -> None:
    """Loads a checkpoint's weights (`shapes`: from its header) into `model`: each shape is compared
    with the model's before any weight is read, and every weight must be finite."""
    rel = str((folder / WEIGHTS).relative_to(run_dir))
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    for key in expected.keys() | shapes.keys():
        if expected.get(key) != shapes.get(key):
            raise damaged(run_dir, rel, f"'{key}' has shape {shapes.get(key)} where model.json and config.yaml "
                                        f"describe {expected.get(key)}")
    weights = load_weights(run_dir, folder=folder)
    bad = next((k for k, t in weights.items() if t.is_floating_point() and t.numel() and not _finite(t)), None)
    if bad is not None:
        raise RunError(f"{folder / WEIGHTS}: weight '{bad}' is not finite (the run diverged): train it again")
    model.load_state_dict(weights)


def trained_model(files: RunFiles, task: Task, run_dir: Path, folder: Path) -> TextModel:
    """The model the run describes, with the weights of the checked checkpoint `folder`. The
    embedding table, the one tensor whose size comes from the data, must have model.json's
    `num_features` rows of config.yaml's `embedding_dim` in the weight file's header before the
    model is built (an absurd count allocates nothing)."""
    info, shapes = files.info, header_shapes(run_dir, folder)
    table = (info["num_features"], files.config.model.embedding_dim)
    if shapes.get("embedding.weight") != table:
        raise damaged(run_dir, str((folder / WEIGHTS).relative_to(run_dir)),
                      f"'embedding.weight' has shape {shapes.get('embedding.weight')} where model.json's num_features "
                      f"and config.yaml's model.embedding_dim describe {table}")
    model = build_model(files.config.model, task, info["num_features"], info["outputs"], info["log_softmax"])
    load_checked(model, run_dir, folder, shapes)
    return model


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
        if not (isinstance(values, list) and len(values) == len(labels) and all(number(v) and 0 <= v <= 1 for v in values)):
            raise damaged(run_dir, "task.json", f"'thresholds' must be {len(labels)} numbers in [0, 1], one per label")


def load_run(run_dir: str | Path, checkpoint: str = "best", device: str | torch.device = "cpu", calibrated: bool = True) -> Run:
    """The run in `run_dir`, with what its task tuned on validation (e.g. a temperature) unless
    `calibrated` is False."""
    run_dir = Path(run_dir)
    files = read_run_files(run_dir)
    folder = checkpoint_dir(run_dir, checkpoint, hashed=(WEIGHTS,))
    state = run_json(run_dir, "task.json") if (run_dir / "task.json").is_file() else {}
    if not isinstance(state, dict):
        raise damaged(run_dir, "task.json", "not a JSON object")
    _check_tuned(run_dir, state, files.labels)
    if not calibrated:
        state.pop("temperature", None)
    task = task_of(files.config, state)
    featurizer = Featurizer(task, files.config.model, make_tokenizer(files.config.data, task), files.vocab, files.labels)
    model = trained_model(files, task, run_dir, folder)
    if featurizer.num_features != files.info["num_features"]:  # words and hash buckets: one id each
        raise damaged(run_dir, "vocab.json", f"{len(files.vocab)} words and config.yaml's features make "
                                             f"{featurizer.num_features} ids, model.json says {files.info['num_features']}")
    device = torch.device(device)
    model.to(device).eval()
    return Run(run_dir, files.config, featurizer, model, files.info["loss"], device)
