"""The token cache: a run's encoded data (vocabulary, labels, and the train / valid / test splits as
`Encoded` arrays), written once to disk and memory-mapped by every later run with the same inputs.

An entry is a folder `<cache>/<key>/`, where the key is a sha256 over everything that shapes the
arrays: the cache format and textcls release, the task, the `data` section, the model's
featurisation fields and the content (sha256) of every file it reads (train, valid, test,
lexicon). Another file or another setting is another key; entries are never changed, only added.
`manifest.json` names each array file (raw little-endian, `<split>.<array>.bin`) with its dtype,
shape and size in bytes; an entry whose files do not match it (a half-copied or damaged folder) is
removed and built again, never read. An entry is built (textcls/streaming.py: the CSVs a chunk at a
time, appended to the array files) under a lock (`<key>.lock`, so concurrent runs of one config
build it once) in a temporary folder that is renamed into place when complete: a process killed
while building leaves no entry, only a temporary folder that the next build of that key removes.
No torch here.

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
from textcls.encoded import IGNORE, Encoded, Ragged
from textcls.errors import RunError
from textcls.files import fsync, sha256, write_json
from textcls.tasks import Task
from textcls.vocab import Vocabulary

FORMAT = 2  # 2: raw array files appended chunk by chunk (1: .npy files)
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
        "lexicon_features": [_fingerprint(path) for path in model.lexicon_features],
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


class EntryWriter:
    """Writes an entry into `folder`: each split's arrays appended chunk by chunk (raw little-endian
    files, `<split>.<array>.bin`), then the vocabulary, labels and manifest (`finish`). Appending
    shifts what points into earlier chunks (offsets, word types, character rows) so the files read as
    one `Encoded` per split."""

    FILL = {"targets": IGNORE}  # what a chunk without the array holds there (no word targets: none)

    def __init__(self, folder: Path):
        folder.mkdir(parents=True)
        self.folder = folder
        self.arrays: dict[str, dict] = {}  # "<split>.<array>" -> dtype, shape
        self.scalars: dict[str, dict] = {}  # split -> its Encoded's scalars
        self.bases: dict[str, dict[str, int]] = {}  # split -> tokens, rows, words, subword values, chars so far

    def append(self, split: str, items: Encoded) -> None:
        """Appends `items` (of at least one row) to `split`."""
        base = self.bases.setdefault(split, dict.fromkeys(("tokens", "rows", "words", "values", "chars"), 0))
        first = split not in self.scalars
        self.scalars.setdefault(split, {name: getattr(items, name) for name in SCALARS})
        tokens = len(items.ids)
        parts = {
            "offsets": (items.offsets if first else items.offsets[1:]) + base["tokens"],
            **{name: getattr(items, name) for name in ARRAYS if name != "offsets"},
        }
        if items.word_types is not None:
            parts["word_types"] = items.word_types + base["words"]
            starts = items.subwords.offsets if first else items.subwords.offsets[1:]
            parts["subwords.offsets"] = starts + base["values"]
            parts["subwords.values"] = items.subwords.values
        if items.char_types is not None:
            parts["char_types"] = items.char_types + base["chars"]
        for name in [n for n in self.arrays if n.startswith(f"{split}.")]:  # arrays this chunk lacks
            if parts.get(name.split(".", 1)[1]) is None:
                parts[name.split(".", 1)[1]] = np.full(tokens, self.FILL[name.split(".", 1)[1]])
        for name, array in parts.items():
            if array is not None:
                self._append(f"{split}.{name}", np.ascontiguousarray(array), base["tokens"])
        base["tokens"] += tokens
        base["rows"] += len(items)
        if items.word_types is not None:
            base["words"] += len(items.subwords.offsets) - 1
            base["values"] += len(items.subwords.values)
        if items.chars is not None:
            base["chars"] += len(items.chars)

    def _append(self, name: str, array: np.ndarray, tokens_before: int) -> None:
        spec = self.arrays.get(name)
        path = self.folder / f"{name}.bin"
        if spec is None:
            spec = self.arrays[name] = {"dtype": array.dtype.str, "shape": [0, *array.shape[1:]]}
            if tokens_before:  # an array that earlier chunks lacked: theirs filled in first
                key = name.split(".", 1)[1]
                self._append(name, np.full(tokens_before, self.FILL[key], dtype=array.dtype), 0)
        if array.dtype.str != spec["dtype"] or list(array.shape[1:]) != spec["shape"][1:]:
            raise ValueError(f"{name}: a chunk of {array.dtype} {array.shape}, the first was {spec}")
        with open(path, "ab") as f:
            f.write(array.astype(array.dtype.newbyteorder("<"), copy=False).tobytes())
        spec["shape"][0] += len(array)

    def finish(self, vocab: Vocabulary, labels: list[str]) -> None:
        """Syncs the arrays and writes the vocabulary, labels and, last, the manifest."""
        for name, spec in self.arrays.items():
            path = self.folder / f"{name}.bin"
            fsync(path)
            spec["bytes"] = path.stat().st_size
        write_json(self.folder / "vocab.json", vocab.to_json())
        write_json(self.folder / "labels.json", labels)
        manifest = {"format": FORMAT, "arrays": self.arrays, "scalars": self.scalars}
        write_json(self.folder / "manifest.json", manifest)  # last: an entry without it is incomplete


def _map(path: Path, spec: dict) -> np.ndarray:
    """The array file `path`, memory-mapped copy-on-write (writable arrays whose pages stay the
    file's); ValueError when its size disagrees with `spec`."""
    dtype, shape = np.dtype(spec["dtype"]), tuple(spec["shape"])
    size = path.stat().st_size
    if size != spec["bytes"] or size != dtype.itemsize * int(np.prod(shape)):
        raise ValueError(f"{path.name}: {size} bytes, the manifest says {spec['bytes']} for {spec['dtype']} {shape}")
    if size == 0:  # (an empty file cannot be mapped)
        return np.zeros(shape, dtype)
    return np.memmap(path, dtype=dtype, mode="c", shape=shape)


def _read(folder: Path) -> Entry:
    """The entry in `folder`, mapped; ValueError (and friends) when any file disagrees with the manifest."""
    manifest = json.loads((folder / "manifest.json").read_text())
    if manifest.get("format") != FORMAT:
        raise ValueError("another cache format")
    arrays = {name: _map(folder / f"{name}.bin", spec) for name, spec in manifest["arrays"].items()}
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
    """(the entry `key` under `root`, whether it was built now). `build(writer, scratch)` appends each
    split's chunks to the `EntryWriter` and returns (vocabulary, labels); `scratch` is a folder it may
    use, removed afterwards. It runs, under the key's lock, only when no sound entry exists."""
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
        tmp = root / f"{key}.tmp-{os.getpid()}"
        scratch = Path(f"{tmp}.scratch")
        try:
            writer = EntryWriter(tmp)
            writer.finish(*build(writer, scratch))
            fsync(tmp)
            os.rename(tmp, folder)  # complete, or absent
            fsync(root)
            return _read(folder), True
        except BaseException as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            if isinstance(exc, (OSError, RunError)):  # (bad data is a DataError, raised as it is)
                raise unusable(root, exc) from None
            raise
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
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
