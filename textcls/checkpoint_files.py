"""Checkpoints inside a run folder: each a folder of its own, written as a whole, named by an
index, and checked against its manifest before anything in it is read.

    checkpoints/index.json        which checkpoint folder is `best` and which is `last`
    checkpoints/step-NNNNNNNNN/   weights.safetensors, info.json (epoch, step, score), state.pt
                                  (training state; kept while it is `last`), and manifest.json
                                  (each file's size and sha256, written last)

A checkpoint is written into a hidden folder, which is renamed into place once complete, and only
then does index.json (replaced in one step) point to it: a crash at any moment leaves `best` and
`last` each wholly from one step. Folders the index does not name are leftovers, removed after each
save and when a training reopens the run. What the files hold is the caller's: this module writes
and checks them, it reads no weights (see checkpoint.py).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable

from textcls.errors import RunError
from textcls.files import UMASK, cannot_write, fsync, json_text, sha256, write_json
from textcls.run_folder import CHECKPOINTS, damaged, run_json

INDEX = "index.json"
MANIFEST = "manifest.json"
WEIGHTS = "weights.safetensors"
STATE = "state.pt"
INFO = "info.json"


def _manifest(folder: Path, names: list[str]) -> dict:
    return {"files": {n: {"bytes": (folder / n).stat().st_size, "sha256": sha256(folder / n)} for n in names}}


def read_index(run_dir: Path) -> dict[str, str]:
    """{"best": folder name, "last": folder name} (either may be missing)."""
    path = run_dir / CHECKPOINTS / INDEX
    if not path.is_file():
        return {}
    index = run_json(run_dir, f"{CHECKPOINTS}/{INDEX}")
    if not isinstance(index, dict) or not all(
        isinstance(v, str) and v.startswith("step-") and "/" not in v for v in index.values()
    ):
        raise damaged(run_dir, f"{CHECKPOINTS}/{INDEX}", "not a map of checkpoint names to step-N folders")
    return index


def write_checkpoint(run_dir: Path, names: list[str], info: dict, writers: dict[str, Callable[[Path], None]]) -> None:
    """A checkpoint folder holding `info` (INFO) and the files `writers` write (name -> write(path):
    WEIGHTS, and STATE when it carries a training state), becoming `names` (e.g. ["best", "last"])
    in one step. A failure leaves every earlier checkpoint as it was."""
    folder = run_dir / CHECKPOINTS
    final = folder / f"step-{info['step']:09d}"
    index = read_index(run_dir)
    suffix = 1
    while final.exists():  # (e.g. saved at this step already before an interrupt)
        final, suffix = folder / f"step-{info['step']:09d}-{suffix}", suffix + 1
    tmp = None
    try:
        tmp = Path(tempfile.mkdtemp(dir=folder, prefix=f".{final.name}.", suffix=".tmp"))
        os.chmod(tmp, 0o777 & ~UMASK)
        for name, write in writers.items():
            write(tmp / name)
        (tmp / INFO).write_text(json_text(info), encoding="utf-8")
        files = [*writers, INFO]
        for name in files:
            os.chmod(tmp / name, 0o666 & ~UMASK)  # (the usual permissions, whatever the writer chose)
            fsync(tmp / name)
        (tmp / MANIFEST).write_text(
            json_text(_manifest(tmp, files)), encoding="utf-8"
        )  # last: its presence means complete
        fsync(tmp / MANIFEST)
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
            raise damaged(
                run_dir,
                rel,
                f"{path.stat().st_size} bytes, its manifest says "
                f"{entry.get('bytes') if isinstance(entry, dict) else '?'} (truncated or changed)",
            )
        if (hashed is None or file in hashed) and sha256(path) != entry.get("sha256"):
            raise damaged(run_dir, rel, "its sha256 differs from its manifest (the file was changed)")
    return folder


def checkpoint_info(run_dir: str | Path, name: str = "best") -> dict:
    """Epoch, step and score of checkpoint `name`."""
    run_dir = Path(run_dir)
    folder = checkpoint_dir(run_dir, name, hashed=(INFO,))
    return run_json(run_dir, str(folder.relative_to(run_dir) / INFO))
