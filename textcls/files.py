"""Writing files so that a crash never leaves half of one, and checking before any work that a
file or folder could be written. Anything may import this module: it knows nothing of runs.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
from pathlib import Path

from textcls.errors import RunError

UMASK = os.umask(0)
os.umask(UMASK)


def fsync(path: Path) -> None:
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
        os.chmod(tmp, 0o666 & ~UMASK)  # mkstemp makes files private; give them the usual permissions
        fsync(Path(tmp))  # the content reaches the disk before the name does
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


def check_output_file(path: Path, option: str) -> None:
    """Fails now, in one line, if the file `option` names could not be written once the work is
    done: a folder, a path under a regular file, or a folder that takes no file."""
    if path.is_dir():
        raise RunError(f"{option} {path}: is a folder (give a file name)")
    _check_creatable(path.parent, f"{option} {path}: cannot write", f"{option} {path}: cannot write there")


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()
