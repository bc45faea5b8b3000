"""Which backend runs a trained run for `predict` and `eval`: numpy (the bag of words without torch,
textcls/numpy_bag.py), torch (the model as it trained), or onnx (the exported model through
onnxruntime). `auto`, the default, is numpy wherever the run and the use allow it, else torch.
torch is imported only when the torch or onnx backend is chosen.
"""

from __future__ import annotations

from pathlib import Path

from textcls.errors import RunError, TextclsError
from textcls.numpy_bag import PLAIN_LOSSES, load_numpy_run, unsupported
from textcls.onnx_bag import OnnxBag, is_flat
from textcls.run_folder import read_run_files

BACKENDS = ("auto", "numpy", "torch", "onnx")


def open_run(
    run_dir: str | Path,
    checkpoint: str = "best",
    backend: str = "auto",
    device: str = "cpu",
    calibrated: bool = True,
    onnx: str | Path | None = None,
    torch_for: str | None = None,
    with_loss: bool = False,
):
    """The run in `run_dir`, loaded for `backend` (a `checkpoint.Run`, or a `numpy_bag.NumpyRun`:
    both `predict`). `torch_for`: what the caller will do that only torch can (auto then takes
    torch; numpy refuses it); `with_loss`: eval's mean loss, which numpy computes for
    `PLAIN_LOSSES` only. Bad choices are one-line errors."""
    run_dir = Path(run_dir)
    if backend not in BACKENDS:
        raise TextclsError(f"--backend must be one of {', '.join(BACKENDS)}, got '{backend}'")
    if backend == "onnx" and device != "cpu":
        raise TextclsError("--backend onnx runs on the CPU (onnxruntime's CPU provider): leave out --device")
    if backend == "numpy" and device != "cpu":
        raise TextclsError("--backend numpy runs on the CPU: leave out --device")
    if onnx is not None and backend != "onnx":
        raise TextclsError("--onnx goes with --backend onnx")
    onnx = Path(onnx or run_dir / "export" / "model.onnx")
    if backend in ("auto", "numpy", "onnx"):
        files = read_run_files(run_dir)
        loss = files.info["loss"]
        why = (
            unsupported(files.config, files.info)
            or torch_for
            or (
                f"eval's loss {loss} (numpy computes {', '.join(PLAIN_LOSSES)})"
                if with_loss and loss not in PLAIN_LOSSES
                else None
            )
            or ("--device asks for torch" if device != "cpu" else None)
        )
        if why is None and backend == "onnx" and is_flat(onnx):  # the exported flat bag, without torch
            run = load_numpy_run(run_dir, checkpoint, calibrated, files)
            run.model, run.backend = OnnxBag(onnx), "onnx"
            return run
        if why is None and backend != "onnx":
            return load_numpy_run(run_dir, checkpoint, calibrated, files)
        if backend == "numpy":
            raise RunError(f"{run_dir}: --backend numpy cannot serve this: {why}; use --backend torch")
    from textcls.checkpoint import load_run
    from textcls.device import resolve_device

    run = load_run(run_dir, checkpoint, resolve_device(device, "--device"), calibrated=calibrated)
    if backend == "onnx":  # (an exported model on padded grids: every model type but the flat bag)
        from textcls.export import OnnxModel

        run.model, run.backend = OnnxModel(onnx, run.model, run.task.per_token), "onnx"
    return run
