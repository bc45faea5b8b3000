"""Continuing a run from its `last` checkpoint: the config it continues with, and its log.

A resumed run is the run it would have been uninterrupted: weights, optimiser, schedule position,
progress (epoch, batch, early-stopping state) and every random-number state come from `last`; the
vocabulary, labels and config from the run folder. Only the fields in RESUMABLE_CHANGES may
differ from the saved config: `train.epochs` extends (or shortens) the run, the others choose
where it runs, not what it computes. metrics.jsonl is rewritten as of `last`: each epoch it
completed once, the last one's line taken from the checkpoint if a crash came before it was logged.
"""

from __future__ import annotations

from pathlib import Path

from textcls.config import Config, apply_overrides, config_from_dict
from textcls.errors import ConfigError
from textcls.files import atomic_write
from textcls.run_folder import log_line, read_log, read_run_files

RESUMABLE_CHANGES = {"train.epochs", "train.device", "train.threads", "train.engine"}  # (the engine: checked in build)


def saved_config(run_dir: str | Path, overrides: list[str] = ()) -> Config:
    """The run's own config, with `--set` overrides applied (checked by `resumed_config`)."""
    config = read_run_files(run_dir).config
    return (
        config_from_dict(apply_overrides(config.to_dict(), list(overrides)), f"{run_dir}/config.yaml")
        if overrides
        else config
    )


def _flat(data: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in data.items():
        if isinstance(value, dict) and value:
            flat.update(_flat(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def resumed_config(run_dir: str | Path, saved: Config, config: Config | None) -> Config:
    """The config a resume of `run_dir` (saved with config `saved`) trains with: `config` (paths
    made absolute) if it differs from `saved` only in RESUMABLE_CHANGES, `saved` if `config` is None."""
    if config is None:
        return saved
    config = config.with_absolute_paths()
    ours, theirs = _flat(config.to_dict()), _flat(saved.to_dict())
    changed = sorted(
        k for k in ours.keys() | theirs.keys() if ours.get(k) != theirs.get(k) and k not in RESUMABLE_CHANGES
    )
    if changed:
        shown = ", ".join(f"{k} ({theirs.get(k)!r} in the run, {ours.get(k)!r} now)" for k in changed[:4])
        more = f" and {len(changed) - 4} more" if len(changed) > 4 else ""
        raise ConfigError(
            f"--resume {run_dir}: the config differs from the run's in {shown}{more}; "
            f"only {', '.join(sorted(RESUMABLE_CHANGES))} may change on resume"
        )
    return config


def trim_log(run_dir: Path, epochs: int, record: dict | None = None) -> list[int]:
    """metrics.jsonl as of the checkpoint resumed from: epochs 1..`epochs`, each once (a line cut
    short by a crash, or one a run of an earlier version logged before its checkpoint, would
    otherwise be repeated). `record` is epoch `epochs`'s line as that checkpoint keeps it: saved
    before the line was written, it restores a line a crash lost between the two. Returns the
    epochs that still have no line (lost with no checkpoint keeping them), for the caller to say."""
    path = run_dir / "metrics.jsonl"
    kept = {
        r["epoch"]: r
        for r in (read_log(run_dir) if path.is_file() else [])
        if isinstance(r.get("epoch"), int) and 1 <= r["epoch"] <= epochs
    }
    if record is not None and record.get("epoch") == epochs:
        kept.setdefault(epochs, record)
    if kept or path.is_file():  # (a run resumed within its first epoch has logged nothing yet)
        text = "".join(log_line(kept[e]) for e in sorted(kept))  # (as training writes them)
        atomic_write(path, lambda p: p.write_text(text, encoding="utf-8"))
    return [e for e in range(1, epochs + 1) if e not in kept]
