"""Model checkpoints with PyTorch: saving a model's weights (and training state) into a checkpoint
folder, and loading a run back as a model ready to evaluate or predict. The folder layout, its
index and manifests are checkpoint_files.py's; the run's describing files run_folder.py's.
Weights are safetensors and the training state loads with `weights_only=True`: nothing a run
folder holds can execute code when loaded.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from textcls.checkpoint_files import STATE, WEIGHTS, checkpoint_dir, write_checkpoint
from textcls.config import Config
from textcls.data import make_tokenizer
from textcls.encoded import Encoded
from textcls.errors import RunError, first_line
from textcls.features import Featurizer
from textcls.losses.registry import options_of
from textcls.losses.spec import LossOptions
from textcls.models import build_model
from textcls.models.base import TextModel
from textcls.run_folder import RunFiles, check_feature_count, damaged, read_run_files, read_task_state
from textcls.tasks import Task, task_of


def save_checkpoint(
    run_dir: Path, names: list[str], model: TextModel, info: dict, training_state: dict | None = None
) -> None:
    """A checkpoint of `model` (with `info`, and `training_state` when given), becoming `names`
    (e.g. ["best", "last"]) in one step. A failure leaves every earlier checkpoint as it was."""
    weights = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    writers = {WEIGHTS: lambda path: save_file(weights, str(path))}
    if training_state is not None:
        writers[STATE] = lambda path: torch.save(training_state, path)
    write_checkpoint(run_dir, names, info, writers)


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
        raise damaged(
            run_dir, str((folder / WEIGHTS).relative_to(run_dir)), f"not a readable weight file ({exc})"
        ) from None


@dataclass
class Run:
    """A trained run, loaded back: config, input pipeline and model, ready to evaluate or predict."""

    dir: Path
    config: Config
    featurizer: Featurizer
    model: TextModel
    loss: LossOptions  # the loss it trained with, and its options
    device: torch.device
    backend = "torch"  # ("onnx" where backends.open_run replaced the model with an OnnxModel)

    @property
    def labels(self) -> list[str]:
        return self.featurizer.labels

    def predict(self, items: Encoded, batch_size: int, with_tokens: bool = False, with_loss: bool = False):
        """The task's Predictions of every row (`with_loss`: the plain mean loss of the labelled rows)."""
        from textcls.evaluate import predict_items
        from textcls.losses.objective import plain_objective

        objective = plain_objective(self.loss, self.task, len(self.labels)) if with_loss else None
        return predict_items(self.model, items, self.task, batch_size, self.device, objective, with_tokens)

    @property
    def task(self) -> Task:
        return self.featurizer.task


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
        raise damaged(
            run_dir, str((folder / WEIGHTS).relative_to(run_dir)), f"not a readable weight file ({exc})"
        ) from None


def load_checked(model: TextModel, run_dir: Path, folder: Path, shapes: dict[str, tuple]) -> None:
    """Loads a checkpoint's weights (`shapes`: from its header) into `model`: each shape is compared
    with the model's before any weight is read, and every weight must be finite."""
    rel = str((folder / WEIGHTS).relative_to(run_dir))
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    for key in expected.keys() | shapes.keys():
        if expected.get(key) != shapes.get(key):
            raise damaged(
                run_dir,
                rel,
                f"'{key}' has shape {shapes.get(key)} where model.json and config.yaml describe {expected.get(key)}",
            )
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
        raise damaged(
            run_dir,
            str((folder / WEIGHTS).relative_to(run_dir)),
            f"'embedding.weight' has shape {shapes.get('embedding.weight')} where model.json's num_features "
            f"and config.yaml's model.embedding_dim describe {table}",
        )
    model = build_model(files.config.model, task, info["num_features"], info["outputs"], info["log_softmax"])
    load_checked(model, run_dir, folder, shapes)
    return model


def load_run(
    run_dir: str | Path, checkpoint: str = "best", device: str | torch.device = "cpu", calibrated: bool = True
) -> Run:
    """The run in `run_dir`, with what its task tuned on validation (e.g. a temperature) unless
    `calibrated` is False."""
    run_dir = Path(run_dir)
    files = read_run_files(run_dir)
    folder = checkpoint_dir(run_dir, checkpoint, hashed=(WEIGHTS,))
    state = read_task_state(run_dir, files.labels)
    if not calibrated:
        state.pop("temperature", None)
    task = task_of(files.config, state)
    featurizer = Featurizer(
        task, files.config.model, make_tokenizer(files.config.data, task), files.vocab, files.labels, files.lexicons
    )
    model = trained_model(files, task, run_dir, folder)
    check_feature_count(run_dir, files, featurizer.num_features)
    device = torch.device(device)
    model.to(device).eval()
    return Run(run_dir, files.config, featurizer, model, options_of(files.config.loss, files.info["loss"]), device)
