"""Named-entity benchmark on CoNLL-2003 English (data/conll2003/, made by scripts/prepare_conll.py):
textcls's `configs/ner_conll.yaml` side by side with a CRF on word features (sklearn-crfsuite), on
the same split and machine, trained on the whole training file and on its first 2,000 sentences.

- CRF: L-BFGS, c1 = 0.1, c2 = 0.1, 100 iterations; features of each word and its neighbours within
  two: the word lower-cased, its capitalisation (title, all capitals, lower), digits, hyphen, its
  prefixes and suffixes of 1-4 letters and its shape ("Xxxx", "dd-dd"), the neighbours' lower-cased
  words, capitalisation and shapes; sentence start and end markers. The file's part-of-speech and
  chunk columns are left out: textcls reads the words alone.
- textcls: the config trained with `textcls.train.train`, one seed at a time (`--seeds`), on the
  whole file (`full`) and with `data.train` set to train_2k.csv (`2k`); nothing else changes.

Entity precision, recall and F1: exact span and type over the test file (conlleval's counting, as
textcls.entities scores it), overall and per type. Time: the whole fit (for the CRF its feature
extraction and L-BFGS; for textcls the whole `train` call with its validation passes). Each run's
result is kept under --runs: an interrupted benchmark resumes where it stopped. Run on otherwise
idle cores: times are comparable within one run only.

    python scripts/bench_ner.py                               # seeds 0,1,2; full and 2k; crf and textcls
    python scripts/bench_ner.py --sizes 2k --systems ner_conll --seeds 0
"""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

import pandas as pd

from benchlib import (
    ROOT,
    comma_list,
    fingerprint,
    key_of,
    load_done,
    log,
    markdown_table,
    mean_std,
    print_table,
    read_jsonl,
    save_run,
    seeded_options,
    write_json,
)

DATA = ROOT / "data" / "conll2003"
SIZES = {"full": DATA / "train.csv", "2k": DATA / "train_2k.csv"}  # the training file of each size
TEST = DATA / "test.csv"
CONFIG = "ner_conll"  # configs/<name>.yaml
TYPES = ["PER", "ORG", "LOC", "MISC"]
PUBLISHED = [  # test entity F1 as the papers give it (100-d pretrained vectors, the whole training file)
    ("BiLSTM-CRF, Lample et al. 2016", 90.94),
    ("BiLSTM-CNN-CRF, Ma and Hovy 2016", 91.21),
]


def read_split(path: Path) -> tuple[list[list[str]], list[list[str]]]:
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    return [t.split(" ") for t in frame["text"]], [t.split(" ") for t in frame["tags"]]


def shape(word: str) -> str:
    """ "Kohl" -> "Xx", "1996-08-22" -> "d-d-d": runs of one character class written once."""
    classes = re.sub("[A-Z]", "X", re.sub("[a-z]", "x", re.sub("[0-9]", "d", word)))
    return re.sub(r"(.)\1+", r"\1", classes)


def word_features(sentence: list[str], i: int) -> dict:
    word = sentence[i]
    features = {
        "bias": 1.0,
        "word": word.lower(),
        "title": word.istitle(),
        "upper": word.isupper(),
        "lower": word.islower(),
        "digit": word.isdigit(),
        "has_digit": any(c.isdigit() for c in word),
        "hyphen": "-" in word,
        "shape": shape(word),
    }
    for n in (1, 2, 3, 4):
        features[f"prefix{n}"], features[f"suffix{n}"] = word[:n].lower(), word[-n:].lower()
    for offset in (-2, -1, 1, 2):
        j = i + offset
        if 0 <= j < len(sentence):
            other = sentence[j]
            features[f"{offset}:word"], features[f"{offset}:title"] = other.lower(), other.istitle()
            features[f"{offset}:upper"], features[f"{offset}:shape"] = other.isupper(), shape(other)
        elif abs(offset) == 1:
            features["start" if offset < 0 else "end"] = True
    return features


def run_crf(train, test) -> dict:
    import sklearn_crfsuite

    from textcls.entities import entity_scores

    start = time.perf_counter()
    model = sklearn_crfsuite.CRF(algorithm="lbfgs", c1=0.1, c2=0.1, max_iterations=100)
    model.fit([[word_features(s, i) for i in range(len(s))] for s in train[0]], train[1])
    seconds = time.perf_counter() - start
    predicted = model.predict([[word_features(s, i) for i in range(len(s))] for s in test[0]])
    return {**scores(entity_scores(test[1], [list(p) for p in predicted])), "seconds": seconds}


def run_textcls(size: str, seed: int, runs: Path) -> dict:
    from textcls.config import load_config
    from textcls.train import train

    config = load_config(ROOT / "configs" / f"{CONFIG}.yaml", [f"train.seed={seed}", f"data.train={SIZES[size]}"])
    start = time.perf_counter()
    result = train(config, out=runs / f"{CONFIG}-{size}-seed{seed}", overwrite=True)
    seconds = time.perf_counter() - start
    epochs = len(read_jsonl(result.run_dir / "metrics.jsonl"))
    return {**scores(result.metrics["test"]), "seconds": seconds, "epochs": epochs, "best_epoch": result.best_epoch}


def scores(metrics: dict) -> dict:
    """Overall and per-type precision, recall and F1 (in %) from entity_scores' dict."""
    row = {k: 100 * metrics[f"entity_{k}"] for k in ("precision", "recall", "f1")}
    for kind in TYPES:
        row[f"{kind}_f1"] = 100 * metrics["entities"].get(kind, {}).get("f1", 0.0)
    return row


def main() -> None:
    def options(parser):
        parser.add_argument("--sizes", default="full,2k", help="training files: full, 2k (its first 2,000 sentences)")
        parser.add_argument("--systems", default=f"crf,{CONFIG}", help="crf and/or ner_conll")
        parser.add_argument("--fresh", action="store_true", help="rerun runs finished before")

    args, seeds = seeded_options(__doc__, "ner", options)
    sizes, systems, runs = comma_list(args.sizes), comma_list(args.systems), Path(args.runs)
    missing = [p for p in [*SIZES.values(), TEST] if not p.is_file()]
    if missing:
        sys.exit(f"bench_ner: {missing[0]}: not found; make it with `python scripts/prepare_conll.py`")
    test = read_split(TEST)
    config_text = (ROOT / "configs" / f"{CONFIG}.yaml").read_text()

    results: dict[str, dict] = {}
    for size in sizes:
        train = read_split(SIZES[size]) if "crf" in systems else None
        data = fingerprint([SIZES[size], TEST], names=False)
        for system in systems:
            for seed in seeds if system != "crf" else [0]:
                settings = "crf" if system == "crf" else config_text
                path, label = runs / f"{system}-{size}-seed{seed}.json", f"{system}, {size}, seed {seed}"
                record = load_done(path, key_of(settings, data, seed), label, args.fresh)
                if record is None:
                    log(label)
                    result = run_crf(train, test) if system == "crf" else run_textcls(size, seed, runs)
                    record = save_run(path, {"key": key_of(settings, data, seed), **result})
                results.setdefault(f"{system} ({size})", {})[seed] = record

    metrics = ["precision", "recall", "f1", *[f"{k}_f1" for k in TYPES], "seconds"]
    summary = {s: {k: mean_std([r[k] for r in by_seed.values()]) for k in metrics} for s, by_seed in results.items()}
    columns = ["tagger (training data)", "runs", "precision", "recall", "F1", *TYPES, "time s"]
    cell = lambda c: f"{c['mean']:.2f}" + (f" ± {c['std']:.2f}" if c["n"] > 1 else "")
    rows = [
        [s, str(c["f1"]["n"]), *[cell(c[k]) for k in metrics[:-1]], f"{c['seconds']['mean']:.0f}"]
        for s, c in summary.items()
    ]
    rows += [[f"{name} (published)", "", "", "", f"{f1:.2f}", *[""] * len(TYPES), ""] for name, f1 in PUBLISHED]
    title = "CoNLL-2003 English test, entity scores % (mean ± std over seeds)"
    print_table(title, columns, rows, left=columns[:1])
    print(markdown_table(columns, rows, left=columns[:1]))
    write_json(Path(args.out), {"seeds": seeds, "runs": results, "summary": summary, "published": dict(PUBLISHED)})


if __name__ == "__main__":
    main()
