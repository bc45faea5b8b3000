"""Shared fixtures: tiny synthetic CSVs written to a temporary folder, and a Config builder.

The sentiment sets are separable by construction: every sentence holds two or three words drawn
from its class's word list plus shared filler words, so a working model must reach (near) perfect
accuracy, and the true label of every row is known without asking the code under test.
"""

from __future__ import annotations

import copy
import csv
import json
import os
import random
import shutil
from pathlib import Path

import pytest
import torch

from textcls.batching import Batch
from textcls.config import Config, config_from_dict

POSITIVE = ["good", "great", "superb", "lovely", "brilliant", "wonderful", "charming", "delightful"]
NEGATIVE = ["bad", "awful", "boring", "dull", "terrible", "horrible", "clumsy", "tedious"]
NEUTRAL = ["average", "ordinary", "plain", "standard", "typical", "moderate", "usual", "regular"]
FILLER = ["the", "movie", "film", "was", "a", "plot", "and", "it", "really", "story", "acting", "this", "quite"]

# A tiny tagging corpus: each word has one tag, so the tags are fully determined by the words.
TAGS = {
    "the": "DET",
    "a": "DET",
    "this": "DET",
    "dog": "NOUN",
    "cat": "NOUN",
    "bird": "NOUN",
    "film": "NOUN",
    "child": "NOUN",
    "runs": "VERB",
    "sees": "VERB",
    "likes": "VERB",
    "eats": "VERB",
    "big": "ADJ",
    "small": "ADJ",
    "red": "ADJ",
    ".": ".",
}


@pytest.fixture(autouse=True, scope="session")
def _few_threads():
    """Two small CPU cores: one torch thread keeps the tests fast and their timings stable."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def write_csv(path: Path, header: list[str], rows: list[list]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def read_rows(path: Path) -> list[dict]:
    """The CSV as the standard library reads it: an independent reference for the rows."""
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def synthetic_rows(n: int, seed: int, classes: dict[str, list[str]]) -> list[list[str]]:
    """`n` rows [text, label], labels balanced in turn, each text = 2-3 class words + 3-5 fillers."""
    rng = random.Random(seed)
    names = list(classes)
    rows = []
    for i in range(n):
        label = names[i % len(names)]
        words = rng.choices(classes[label], k=rng.randint(2, 3)) + rng.choices(FILLER, k=rng.randint(3, 5))
        rng.shuffle(words)
        rows.append([" ".join(words), label])
    rng.shuffle(rows)
    return rows


def _write_splits(folder: Path, classes: dict[str, list[str]], sizes=(200, 60, 40)) -> dict[str, Path]:
    paths = {}
    for split, n, seed in zip(["train", "valid", "test"], sizes, [1, 2, 3]):
        paths[split] = write_csv(folder / f"{split}.csv", ["text", "label"], synthetic_rows(n, seed, classes))
    return paths


@pytest.fixture
def sentiment_csvs(tmp_path) -> dict[str, Path]:
    """Binary pos/neg: 200 train, 60 valid, 40 test rows."""
    return _write_splits(tmp_path / "sentiment", {"neg": NEGATIVE, "pos": POSITIVE})


@pytest.fixture
def three_class_csvs(tmp_path) -> dict[str, Path]:
    """neg / neu / pos: 200 train, 60 valid, 40 test rows."""
    return _write_splits(tmp_path / "three", {"neg": NEGATIVE, "neu": NEUTRAL, "pos": POSITIVE})


def tagging_rows(n: int, seed: int) -> list[list[str]]:
    rng = random.Random(seed)
    by_tag: dict[str, list[str]] = {}
    for word, tag in TAGS.items():
        by_tag.setdefault(tag, []).append(word)
    patterns = [
        ["DET", "NOUN", "VERB", "."],
        ["DET", "ADJ", "NOUN", "VERB", "DET", "NOUN", "."],
        ["DET", "NOUN", "VERB", "DET", "ADJ", "NOUN", "."],
    ]
    rows = []
    for _ in range(n):
        tags = rng.choice(patterns)
        words = [rng.choice(by_tag[t]) for t in tags]
        rows.append([" ".join(words), " ".join(tags)])
    return rows


@pytest.fixture
def tagging_csvs(tmp_path) -> dict[str, Path]:
    folder = tmp_path / "tagging"
    return {
        "train": write_csv(folder / "train.csv", ["text", "tags"], tagging_rows(80, 1)),
        "valid": write_csv(folder / "valid.csv", ["text", "tags"], tagging_rows(30, 2)),
    }


def deep_merge(base: dict, extra: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def small_config_dict(csvs: dict[str, Path], out_dir: Path, **sections) -> dict:
    """A complete raw config for tiny, fast runs; `sections` are merged over it."""
    base = {
        "task": "classification",
        "data": {k: str(v) if isinstance(v, Path) else v for k, v in csvs.items()},
        "model": {"type": "bow", "embedding_dim": 16, "hidden_dim": 16, "dropout": 0.0},
        "optim": {"name": "adamw", "lr": 0.05},
        "train": {"epochs": 4, "batch_size": 16, "eval_batch_size": 64, "seed": 0, "device": "cpu", "threads": 1},
        "output": {"dir": str(out_dir)},
    }
    return deep_merge(base, sections)


@pytest.fixture
def make_config(tmp_path, sentiment_csvs):
    """make_config(csvs=None, **sections) -> Config over `csvs` (default: the binary sentiment CSVs)
    with `sections` merged over small defaults; run folders go under tmp_path/runs."""

    def build(csvs: dict[str, Path] | None = None, **sections) -> Config:
        return config_from_dict(small_config_dict(csvs or sentiment_csvs, tmp_path / "runs", **sections))

    return build


def bow_head(weights: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """(W, b) of a bag-of-words model from its state dict: token score = vector @ W.T, sentence
    logit = mean token score + b. Accepts both parameter layouts the model has had
    (`classifier.{weight,bias}`, or `token_head.weight` and a separate `bias`)."""
    if "classifier.weight" in weights:
        return weights["classifier.weight"], weights["classifier.bias"]
    return weights["token_head.weight"], weights["bias"]


def checkpoint_dir(run: Path, name: str = "best", check: bool = True) -> Path:
    """The folder of checkpoint `name` of a run (checked against its manifest unless `check` is False)."""
    from textcls import checkpoint

    if check:
        return checkpoint.checkpoint_dir(run, name)
    return run / "checkpoints" / json.loads((run / "checkpoints" / "index.json").read_text())[name]


def checkpoint_weights(run: Path, name: str = "best") -> Path:
    return checkpoint_dir(run, name) / "weights.safetensors"


def reseal(folder: Path) -> None:
    """Rewrites a checkpoint folder's manifest to match its files as they are now (hashed with
    hashlib here, as anyone editing a run by hand could)."""
    import hashlib

    manifest = json.loads((folder / "manifest.json").read_text())
    for name in manifest["files"]:
        data = (folder / name).read_bytes()
        manifest["files"][name] = {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    (folder / "manifest.json").write_text(json.dumps(manifest))


def collate(items, task: str):
    """One batch of `items`: an Encoded, or a list of EncodedRow (built by hand in a test)."""
    from textcls.encoded import Encoded

    if not isinstance(items, Encoded):
        items = Encoded.from_rows(list(items), token_labels=task == "tagging")
    return Batch.of(items)


# A synthetic named-entity set in BIO tags: two-word people, one-word places.
FIRST, LAST = ["John", "Mary", "Ahmed", "Li", "Olga"], ["Smith", "Jones", "Khan", "Chen", "Ivanova"]
PLACES = ["Paris", "Lagos", "Lima", "Oslo", "Kyoto"]
WORDS = ["met", "in", "the", "visited", "yesterday", "and", "saw", "near", "with", "today"]


def ner_rows(n: int, seed: int) -> list[list[str]]:
    """Sentences of people (B-PER I-PER), places (B-LOC) and other words (O), in BIO tags."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        words, tags = [], []
        for _ in range(rng.randint(2, 4)):
            kind = rng.random()
            if kind < 0.3:
                words += [rng.choice(FIRST), rng.choice(LAST)]
                tags += ["B-PER", "I-PER"]
            elif kind < 0.5:
                words.append(rng.choice(PLACES))
                tags.append("B-LOC")
            else:
                words.append(rng.choice(WORDS))
                tags.append("O")
        rows.append([" ".join(words), " ".join(tags)])
    return rows


@pytest.fixture
def ner_csvs(tmp_path) -> dict:
    return {
        split: write_csv(tmp_path / f"{split}.csv", ["text", "tags"], ner_rows(n, seed))
        for split, n, seed in [("train", 200, 1), ("valid", 60, 2), ("test", 60, 3)]
    }


@pytest.fixture
def train_shipped(tmp_path, monkeypatch):
    """train_shipped("configs/X.yaml", epochs) -> the test metrics of that shipped config, trained
    through the CLI from the repository root (where its data paths point)."""
    from typer.testing import CliRunner

    from textcls.cli import app

    def run(config: str, epochs: int) -> dict:
        monkeypatch.chdir(Path(__file__).resolve().parents[1])
        result = CliRunner().invoke(
            app,
            [
                "train",
                "-c",
                config,
                "--set",
                f"train.epochs={epochs}",
                "--set",
                "train.threads=1",
                "-o",
                str(tmp_path / "shipped"),
                "-q",
            ],
        )
        assert result.exit_code == 0, result.output
        return json.loads((tmp_path / "shipped" / "metrics.json").read_text())["test"]

    return run


def train_cli(config: Config, folder: Path) -> Path:
    """Trains `config` through `textcls train` (written as YAML beside the run); returns the run folder."""
    import yaml
    from typer.testing import CliRunner

    from textcls.cli import app

    path = folder.parent / f"{folder.name}.yaml"
    path.write_text(yaml.safe_dump(config.to_dict()))
    result = CliRunner().invoke(app, ["train", "-c", str(path), "-o", str(folder), "-q"])
    assert result.exit_code == 0, result.output
    return folder


def browser():
    """A headless Chromium driven by selenium, or None when neither is installed."""
    try:
        from selenium import webdriver
    except ImportError:
        return None
    binary = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    driver = shutil.which("chromedriver")
    if not (binary and driver):
        return None
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,2000"):
        options.add_argument(flag)
    return webdriver.Chrome(options=options, service=Service(driver))


def browser_or_skip():
    """`browser()`; without one the test is skipped, but fails where CI must run it."""
    driver = browser()
    if driver is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI must run the browser test: install chromium, chromium-driver and selenium")
        pytest.skip("no headless Chromium with chromedriver and selenium")
    return driver
