"""Part-of-speech benchmark on the Brown corpus (12 universal tags, data/pos/): textcls taggers side
by side with the most-frequent-tag baseline and a CRF (sklearn-crfsuite), on the same split and
machine, in one run.

- most frequent tag: each word's commonest training tag (lower-cased), unknown words -> NOUN.
- CRF: L-BFGS, 100 iterations, c1 = c2 = 0.1; features: the word lower-cased, its prefixes and
  suffixes of 1-3 letters, its shape (capitalised, all capitals, digits, hyphen), and the lower-cased
  previous and next words with their capitalisation; sentence start and end markers.
- textcls: each config in --configs, trained with `textcls.train.train` for each seed.

Words unseen in training are test tokens whose lower-cased form no training token has (as textcls's
vocabulary counts them). Training time is the whole fit: the CRF's feature extraction and L-BFGS;
textcls's whole `train` call (reading the CSVs, every epoch with its validation, the final scoring).
Run on otherwise idle cores: the times are only comparable within one run. Writes --out (JSON) and
prints a table and its Markdown.

    python scripts/bench_pos.py                                  # seeds 0,1,2, every system
    python scripts/bench_pos.py --seeds 0 --systems crf,pos_lstm_char
"""

from __future__ import annotations

import argparse
import time
from collections import Counter, defaultdict
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
    save_run,
    write_json,
)

SPLITS = {split: ROOT / "data" / "pos" / f"brown_{split}.csv.gz" for split in ("train", "valid", "test")}
CONFIGS = ["pos_window", "pos_lstm", "pos_lstm_char"]  # configs/<name>.yaml
PEERS = ["most_frequent", "crf"]


def read_split(path: Path) -> tuple[list[list[str]], list[list[str]]]:
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    return [t.split(" ") for t in frame["text"]], [t.split(" ") for t in frame["tags"]]


def score(gold: list[list[str]], predicted: list[list[str]], words: list[list[str]], seen: set[str]) -> dict:
    right = total = unseen_right = unseen = 0
    for sentence, gold_tags, tags in zip(words, gold, predicted):
        for word, g, p in zip(sentence, gold_tags, tags):
            total += 1
            right += g == p
            if word.lower() not in seen:
                unseen += 1
                unseen_right += g == p
    return {"accuracy": right / total, "unseen_accuracy": unseen_right / unseen}


def most_frequent(train, test) -> list[list[str]]:
    counts: dict[str, Counter] = defaultdict(Counter)
    for sentence, tags in zip(*train):
        for word, tag in zip(sentence, tags):
            counts[word.lower()][tag] += 1
    best = {word: c.most_common(1)[0][0] for word, c in counts.items()}
    return [[best.get(w.lower(), "NOUN") for w in sentence] for sentence in test[0]]


def word_features(sentence: list[str], i: int) -> dict:
    word = sentence[i]
    features = {
        "bias": 1.0,
        "word": word.lower(),
        "title": word.istitle(),
        "upper": word.isupper(),
        "digit": word.isdigit(),
        "has_digit": any(c.isdigit() for c in word),
        "hyphen": "-" in word,
    }
    for n in (1, 2, 3):
        features[f"prefix{n}"], features[f"suffix{n}"] = word[:n].lower(), word[-n:].lower()
    for offset, name in ((-1, "prev"), (1, "next")):
        j = i + offset
        if 0 <= j < len(sentence):
            features[f"{name}_word"], features[f"{name}_title"] = sentence[j].lower(), sentence[j].istitle()
        else:
            features["start" if offset < 0 else "end"] = True
    return features


def crf(train, test) -> list[list[str]]:
    import sklearn_crfsuite

    model = sklearn_crfsuite.CRF(algorithm="lbfgs", c1=0.1, c2=0.1, max_iterations=100)
    model.fit([[word_features(s, i) for i in range(len(s))] for s in train[0]], train[1])
    return model.predict([[word_features(s, i) for i in range(len(s))] for s in test[0]])


def run_peer(name: str, train, test, seen) -> dict:
    start = time.perf_counter()
    predicted = {"most_frequent": most_frequent, "crf": crf}[name](train, test)
    seconds = time.perf_counter() - start  # prediction included: a few seconds of the CRF's total
    return {**score(test[1], predicted, test[0], seen), "seconds": seconds}


def run_textcls(name: str, seed: int, runs: Path) -> dict:
    from textcls.config import load_config
    from textcls.train import train

    config = load_config(ROOT / "configs" / f"{name}.yaml", [f"train.seed={seed}"])
    start = time.perf_counter()
    result = train(config, out=runs / f"{name}-seed{seed}", overwrite=True)
    seconds = time.perf_counter() - start
    test = result.metrics["test"]
    return {
        "accuracy": test["accuracy"],
        "unseen_accuracy": test["unseen_accuracy"],
        "seconds": seconds,
        "epochs": config.train.epochs,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated seeds (textcls; the peers are deterministic)")
    parser.add_argument("--systems", default=",".join(PEERS + CONFIGS), help="peers and configs/<name> to run")
    parser.add_argument(
        "--runs", default=str(ROOT / "bench" / "pos_runs"), help="folder for run folders and per-run JSON"
    )
    parser.add_argument("--out", default=str(ROOT / "bench" / "pos.json"))
    parser.add_argument("--fresh", action="store_true", help="rerun runs finished before")
    args = parser.parse_args()
    import os

    os.chdir(ROOT)  # configs name their data relative to the repository
    seeds, systems, runs = [int(s) for s in comma_list(args.seeds)], comma_list(args.systems), Path(args.runs)
    train, test = read_split(SPLITS["train"]), read_split(SPLITS["test"])
    seen = {w.lower() for sentence in train[0] for w in sentence}
    data = fingerprint(SPLITS.values(), names=False)

    results: dict[str, dict] = {}
    for system in systems:
        for seed in seeds if system not in PEERS else [0]:
            config = ROOT / "configs" / f"{system}.yaml"
            settings = config.read_text() if system not in PEERS else system
            path, label = runs / f"{system}-seed{seed}.json", f"{system}, seed {seed}"
            record = load_done(path, key_of(settings, data, seed), label, args.fresh)
            if record is None:
                log(label)
                result = run_peer(system, train, test, seen) if system in PEERS else run_textcls(system, seed, runs)
                record = save_run(path, {"key": key_of(settings, data, seed), **result})
            results.setdefault(system, {})[seed] = record

    metrics = ["accuracy", "unseen_accuracy", "seconds"]
    summary = {s: {k: mean_std([r[k] for r in by_seed.values()]) for k in metrics} for s, by_seed in results.items()}
    columns = ["tagger", "runs", "token accuracy %", "unseen words %", "training time s"]
    pct = lambda c: f"{100 * c['mean']:.2f}" + (f" ± {100 * c['std']:.2f}" if c["n"] > 1 else "")
    rows = [
        [s, str(c["accuracy"]["n"]), pct(c["accuracy"]), pct(c["unseen_accuracy"]), f"{c['seconds']['mean']:.0f}"]
        for s, c in summary.items()
    ]
    print_table("Brown universal tags, test split (mean ± std over seeds)", columns, rows, left=["tagger"])
    print(markdown_table(columns, rows, left=["tagger"]))
    write_json(
        Path(args.out),
        {
            "seeds": seeds,
            "unseen_test_tokens": sum(w.lower() not in seen for s in test[0] for w in s),
            "runs": results,
            "summary": summary,
        },
    )


if __name__ == "__main__":
    main()
