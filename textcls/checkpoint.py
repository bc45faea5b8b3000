"""Run folders and checkpoints: written atomically, loaded without executing code.

A run folder holds everything needed to rebuild the model and its input pipeline:
    config.yaml   the resolved config           vocab.json    the word vocabulary
    labels.json   class or tag names, in index order
    model.json    what the config leaves open (resolved loss, outputs, feature count)
    checkpoints/{best,last}.safetensors  weights (when the best epoch is the last, one file, two names)
    checkpoints/last.state.pt            optimiser, schedule and random-number state (tensors only), to resume
    checkpoints/{best,last}.json         epoch and metrics of that checkpoint
    task.json     what the task tuned on validation (e.g. decision thresholds), when it tunes anything

`model.json` carries FORMAT_VERSION: a run written by an incompatible version is refused with a
one-line error instead of loading into the wrong model.
"""

from __future__ import annotations

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
from safetensors.torch import load_file, save_file

from textcls.batching import Featurizer
from textcls.config import Config, config_from_dict, upgrade_saved_config
from textcls.data import make_tokenizer
from textcls.errors import RunError
from textcls.models import TextModel, build_model
from textcls.tasks import Task, task_of
from textcls.vocab import Vocabulary


FORMAT_VERSION = 2  # 2: flat data path (EmbeddingBag bag of words); runs without it must be retrained

_UMASK = os.umask(0)
os.umask(_UMASK)


def atomic_write(path: Path, write) -> None:
    """`write(tmp_path)` fills a temporary file beside `path`, which then replaces `path` in one step,
    so a crash never leaves a half-written file under the real name."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes files private; give them the usual permissions
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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


def write_json(path: Path, data) -> None:
    text = json.dumps(finite(data), indent=2, ensure_ascii=False, allow_nan=False)
    atomic_write(path, lambda p: p.write_text(text + "\n", encoding="utf-8"))


def prepare_run_dir(out: str | Path | None, overwrite: bool, name: str, parent: str) -> Path:
    """The folder a new run writes to. An existing non-empty folder is refused unless `overwrite`."""
    if out is None:
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        out = Path(parent) / f"{name}-{stamp}"
        suffix = 1
        while out.exists():
            out, suffix = Path(parent) / f"{name}-{stamp}-{suffix}", suffix + 1
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise RunError(f"{out}: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()):
        if not overwrite:
            raise RunError(f"{out}: folder exists and is not empty (choose another --out, or pass --overwrite)")
        # Nothing of the earlier run may mix with the new one (a stale checkpoint could be loaded).
        for stale in ["metrics.jsonl", "metrics.json", "model.json", "config.yaml", "vocab.json", "labels.json", "task.json"]:
            (out / stale).unlink(missing_ok=True)
        shutil.rmtree(out / "checkpoints", ignore_errors=True)
    (out / "checkpoints").mkdir(parents=True, exist_ok=True)
    return out


def save_checkpoint(run_dir: Path, name: str, model: TextModel, info: dict, training_state: dict | None = None,
                    same_as: str | None = None) -> None:
    """Weights (and, given, the training state) under `name`. With `same_as`, the weights are those
    just saved under that name: the file gets a second name (a hard link) instead of a copy."""
    folder = run_dir / "checkpoints"
    target = folder / f"{name}.safetensors"
    if same_as is not None:
        _link(folder / f"{same_as}.safetensors", target)
    else:
        weights = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
        atomic_write(target, lambda p: save_file(weights, str(p)))
    if training_state is not None:
        atomic_write(folder / f"{name}.state.pt", lambda p: torch.save(training_state, p))
    write_json(folder / f"{name}.json", info)


def _link(source: Path, target: Path) -> None:
    """`target` becomes another name of `source`, atomically; a copy where links are not supported."""
    tmp = target.with_name(f".{target.name}.link")
    tmp.unlink(missing_ok=True)
    try:
        os.link(source, tmp)
    except OSError:
        shutil.copyfile(source, tmp)
    os.replace(tmp, target)


def load_training_state(run_dir: Path, name: str = "last") -> dict:
    """Optimiser, scheduler and RNG state; `weights_only=True` refuses anything but tensors and plain data."""
    return torch.load(run_dir / "checkpoints" / f"{name}.state.pt", weights_only=True)


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
    atomic_write(run_dir / "config.yaml", lambda p: p.write_text(yaml.safe_dump(config.to_dict(), sort_keys=False)))
    write_json(run_dir / "vocab.json", featurizer.vocab.to_json())
    write_json(run_dir / "labels.json", featurizer.labels)
    write_json(run_dir / "model.json", model_info)


def load_run(run_dir: str | Path, checkpoint: str = "best", device: str | torch.device = "cpu", calibrated: bool = True) -> Run:
    """The run in `run_dir`, with what its task tuned on validation (e.g. a temperature) unless
    `calibrated` is False."""
    run_dir = Path(run_dir)
    try:
        saved = upgrade_saved_config(yaml.safe_load((run_dir / "config.yaml").read_text()))
        config = config_from_dict(saved, str(run_dir / "config.yaml"))
        vocab = Vocabulary.from_json(json.loads((run_dir / "vocab.json").read_text()))
        labels = json.loads((run_dir / "labels.json").read_text())
        info = json.loads((run_dir / "model.json").read_text())
    except FileNotFoundError as exc:
        raise RunError(f"{run_dir}: not a textcls run folder (missing {Path(exc.filename).name})") from None
    if info.get("format_version") != FORMAT_VERSION:
        raise RunError(f"{run_dir}: written by an older textcls (run format {info.get('format_version', 1)}, this "
                       f"version reads {FORMAT_VERSION}); train it again with `textcls train`")
    weights = run_dir / "checkpoints" / f"{checkpoint}.safetensors"
    if not weights.is_file():
        raise RunError(f"{run_dir}: no '{checkpoint}' checkpoint (expected {weights})")
    state = json.loads((run_dir / "task.json").read_text()) if (run_dir / "task.json").is_file() else {}
    if not calibrated:
        state.pop("temperature", None)
    task = task_of(config, state)
    featurizer = Featurizer(task, config.model, make_tokenizer(config.data, task), vocab, labels)
    model = build_model(config.model, task, info["num_features"], info["outputs"], info["log_softmax"])
    try:
        state = load_file(str(weights))
    except Exception as exc:  # safetensors raises its own error type for a damaged file
        raise RunError(f"{weights}: cannot load, not a readable weight file ({exc})") from None
    bad = next((name for name, tensor in state.items() if tensor.is_floating_point() and not torch.isfinite(tensor).all()), None)
    if bad is not None:
        raise RunError(f"{weights}: weight '{bad}' is not finite (the run diverged): train it again")
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:  # written for another model (e.g. by an incompatible version)
        raise RunError(f"{weights}: cannot load into the model the run describes ({str(exc).splitlines()[0]})") from None
    device = torch.device(device)
    model.to(device).eval()
    return Run(run_dir, config, featurizer, model, info["loss"], device)
