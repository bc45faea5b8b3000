"""The token cache: a run's encoded data (vocabulary, labels, and the train / valid / test splits as
`Encoded` arrays), written once to disk and memory-mapped by every later run with the same inputs.

An entry is a folder `<cache>/<key>/`, where the key is a sha256 over everything that shapes the
arrays: the cache format and textcls release, the task, the `data` section, the model's
featurisation fields and the content (sha256) of every file it reads (train, valid, test,
lexicon). Another file or another setting is another key; entries are never changed, only added.
`manifest.json` names each array file with its dtype, shape and size in bytes; an entry whose files
do not match it (a half-copied or damaged folder) is removed and built again, never read. An entry
is built under a lock (`<key>.lock`, so concurrent runs of one config build it once) in a temporary
folder that is renamed into place when complete: a process killed while building leaves no entry,
only a temporary folder that the next build of that key removes. No torch here.

Where: `data.cache` (`auto`: $TEXTCLS_CACHE if set, else `.cache/` inside `output.dir`, beside the
run folders; `off`: no cache). Size: the encoded arrays, 8 bytes per token for its id and 8 more
per word n-gram order above one (int64), plus offsets and labels; `rm -r` the folder to clear it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
from filelock import FileLock

from textcls import __version__
from textcls.config import Config
from textcls.encoded import Encoded, Ragged
from textcls.errors import RunError
from textcls.files import fsync, sha256, write_json
from textcls.tasks import Task
from textcls.vocab import Vocabulary

FORMAT = 1
ARRAYS = [f.name for f in fields(Encoded) if f.name not in ("subwords", "token_labels", "trained_words", "arity")]
SCALARS = ("token_labels", "trained_words", "arity")
SPLITS = ("train", "valid", "test")


@dataclass
class Entry:
    """A cache entry, mapped: its folder, vocabulary, labels and splits (test: None without one)."""

    path: Path
    vocab: Vocabulary
    labels: list[str]
    splits: dict[str, Encoded | None]


def cache_root(config: Config) -> Path | None:
    """The cache folder of `config` (data.cache), or None when it is off."""
    where = config.data.cache
    if where == "off":
        return None
    if where == "auto":
        return Path(os.environ.get("TEXTCLS_CACHE") or Path(config.output.dir) / ".cache")
    return Path(where)


def _fingerprint(path: str) -> str | None:
    """sha256 of a file's content; None when it cannot be read (reading the data then says why, in one line)."""
    try:
        return sha256(Path(path))
    except OSError:
        return None


def cache_key(config: Config, task: Task) -> str:
    """A sha256 (hex) over everything that shapes the encoded arrays."""
    data = config.data.model_dump(mode="json")
    data.pop("cache", None)
    files = {
        name: _fingerprint(data[name]) for name in ("train", "valid", "test", "lexicon") if isinstance(data[name], str)
    }
    data = {k: v for k, v in data.items() if k not in files}  # (a file by its content, not how its path is written)
    model = config.model
    features = {
        "type": model.type,
        "hashed_word_ngrams": model.hashed_word_ngrams(),
        **{k: getattr(model, k, None) for k in ("buckets", "char_ngrams", "char_max_length", "char_encoder", "shape")},
    }
    split_seed = config.train.seed if not isinstance(config.data.valid, str) else None  # (a validation split's draw)
    inputs = {
        "format": FORMAT,
        "textcls": __version__,  # (another release may tokenise or hash differently)
        "task": task.name,
        "data": data,
        "files": files,
        "features": features,
        "split_seed": split_seed,
    }
    return hashlib.sha256(json.dumps(inputs, sort_keys=True, default=str).encode()).hexdigest()[:32]


def _array_files(split: str, items: Encoded) -> dict[str, np.ndarray]:
    arrays = {f"{split}.{name}": getattr(items, name) for name in ARRAYS if getattr(items, name) is not None}
    if items.subwords is not None:
        arrays[f"{split}.subwords.offsets"] = items.subwords.offsets
        arrays[f"{split}.subwords.values"] = items.subwords.values
    return arrays


def _write(folder: Path, vocab: Vocabulary, labels: list[str], splits: dict[str, Encoded | None]) -> None:
    folder.mkdir(parents=True)
    manifest = {"format": FORMAT, "arrays": {}, "scalars": {}}
    for split, items in splits.items():
        if items is None:
            continue
        manifest["scalars"][split] = {name: getattr(items, name) for name in SCALARS}
        for name, array in _array_files(split, items).items():
            path = folder / f"{name}.npy"
            np.save(path, np.ascontiguousarray(array))
            fsync(path)
            manifest["arrays"][name] = {
                "dtype": str(array.dtype),
                "shape": list(array.shape),
                "bytes": path.stat().st_size,
            }
    write_json(folder / "vocab.json", vocab.to_json())
    write_json(folder / "labels.json", labels)
    write_json(folder / "manifest.json", manifest)  # last: an entry without it is incomplete


def _read(folder: Path) -> Entry:
    """The entry in `folder`, mapped; ValueError (and friends) when any file disagrees with the manifest."""
    manifest = json.loads((folder / "manifest.json").read_text())
    if manifest.get("format") != FORMAT:
        raise ValueError("another cache format")
    arrays = {}
    for name, spec in manifest["arrays"].items():
        path = folder / f"{name}.npy"
        if path.stat().st_size != spec["bytes"]:
            raise ValueError(f"{path.name}: {path.stat().st_size} bytes, the manifest says {spec['bytes']}")
        array = np.load(path, mmap_mode="c")  # copy-on-write: writable arrays whose pages stay the file's
        if str(array.dtype) != spec["dtype"] or list(array.shape) != spec["shape"]:
            raise ValueError(
                f"{path.name}: {array.dtype} {array.shape}, the manifest says {spec['dtype']} {spec['shape']}"
            )
        arrays[name] = array
    vocab = Vocabulary.from_json(json.loads((folder / "vocab.json").read_text()))
    labels = json.loads((folder / "labels.json").read_text())
    splits: dict[str, Encoded | None] = {}
    for split in SPLITS:
        if split not in manifest["scalars"]:
            splits[split] = None
            continue
        get = lambda name: arrays.get(f"{split}.{name}")
        subwords = None
        if get("subwords.offsets") is not None:
            subwords = Ragged(values=get("subwords.values"), offsets=get("subwords.offsets"))
        splits[split] = Encoded(**{name: get(name) for name in ARRAYS}, subwords=subwords, **manifest["scalars"][split])
    return Entry(folder, vocab, labels, splits)


class CacheUnusable(RunError):
    """The cache folder cannot be used (not writable, a file in the way, the disk full)."""


def cached(root: Path, key: str, build) -> tuple[Entry, bool]:
    """(the entry `key` under `root`, whether it was built now). `build()` returns (vocab, labels,
    {split: Encoded or None}); it runs, under the key's lock, only when no sound entry exists."""
    folder = root / key
    try:
        root.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(root / f"{key}.lock"))
        lock.acquire()
    except OSError as exc:
        raise unusable(root, exc) from None
    try:
        if folder.is_dir():
            try:
                return _read(folder), False
            except (FileNotFoundError, ValueError, KeyError, TypeError, json.JSONDecodeError):
                shutil.rmtree(folder, ignore_errors=True)  # damaged or half-copied: never trusted, built again
            except OSError as exc:  # (a sound entry that cannot be read now: no permission, no memory to map)
                raise unusable(root, exc) from None
        for stale in root.glob(f"{key}.tmp-*"):  # a build that was killed
            shutil.rmtree(stale, ignore_errors=True)
        vocab, labels, splits = build()
        tmp = root / f"{key}.tmp-{os.getpid()}"
        try:
            _write(tmp, vocab, labels, splits)
            fsync(tmp)
            os.rename(tmp, folder)  # complete, or absent
            fsync(root)
            return _read(folder), True
        except BaseException as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            if isinstance(exc, (OSError, RunError)):
                raise unusable(root, exc) from None
            raise
    finally:
        lock.release()


def unusable(root: Path, exc: Exception) -> CacheUnusable:
    why = getattr(exc, "strerror", None) or exc
    return CacheUnusable(f"{root}: cannot keep the token cache there ({why}); set data.cache to another folder, or off")


def describe(entry: Entry) -> dict:
    """What an entry holds: its size on disk, the vocabulary, and each split's rows and tokens."""
    return {
        "bytes": sum(p.stat().st_size for p in entry.path.iterdir()),
        "vocabulary": len(entry.vocab),
        "labels": len(entry.labels),
        "splits": {
            split: {"rows": len(items), "tokens": int(items.offsets[-1])}
            for split, items in entry.splits.items()
            if items is not None
        },
    }
