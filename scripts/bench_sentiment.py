"""Sentiment benchmark: textcls against the tools a user would otherwise pick, side by side on our split.

What it measures, for every system and seed, on data/sentiment (movie-review sentences, pos/neg):
  * validation and test accuracy on movies_{valid,test}.csv, trained on movies_train.csv;
  * cross-domain accuracy of that same model on amazon.csv, nyt.csv and tweets.csv;
  * training time, and training tokens/s where the tool counts tokens.

Systems:
  textcls-bow, -bow_torch,    configs/sentiment_{bow,bow_torch,lstm,cnn,cnn_glove,robust}.yaml
  -lstm, -cnn, -cnn_glove,    (train.threads and train.device set from the options);
  -robust                     train seconds = sum of the per-epoch `seconds` in metrics.jsonl (the
                              optimisation loop only), tokens/s = training tokens / those seconds.
  fasttext-1gram, -2gram      fastText 0.9.3: dim 100, 10 epochs, lr 0.1, wordNgrams 1 / 2, thread 2, seed;
                              train seconds = train_supervised (reading its train file included). Each run
                              is a fresh process with MALLOC_MMAP_THRESHOLD_ set: fastText 0.9.3 initialises
                              only the first thread x 10% of its input matrix and leaves the rest as it found
                              the memory, so reused heap memory gives random "Encountered NaN" failures;
                              fresh pages make the rest zeros, every time (what a fresh process usually gets).
  tfidf-lr                    scikit-learn TF-IDF of 1-2-grams + LogisticRegression, C picked on validation.
  vader                       VADER 3.3.2 (vaderSentiment), the rule-based lexicon model: no training; compound
                              score > 0 -> pos, else neg, on the text as it is in the file.
  nb-lr                       NBSVM-style: binarized 1-2-gram counts scaled by the NB log-count ratio
                              (alpha 1) + LogisticRegression, C picked on validation.
                              For both: train seconds = fitting the features and the model at the chosen C,
                              from scratch; the search over C is reported apart (tune seconds).
All peers see the same tokens: the text lower-cased and split at whitespace (fastText's own rule), nothing more.
"wall s" is the whole time a system took per seed, data loading, evaluation and (for peers) the C search included.
Times are noisy on a shared machine: the table gives the median over seeds, seeds are the outer loop (a busy spell
falls on every system alike), and each run records the machine's load; compare the ratios within one run (the
"x fastText" column divides by fasttext-1gram's median train seconds).

With --folds K the train, valid and test files are pooled and cut into K folds (numpy RandomState(0)); each
fold is the test set once, a slice of the other folds as large as one fold is the validation set (early
stopping, C, calibration) and the rest trains; every system sees the same folds, once each at the first seed.
The table's "vs nb-lr" is then the paired difference to NB-LR on the same fold (as the MR literature reports
10-fold cross-validation: one fixed test split of 1,058 sentences cannot separate systems 1-2 points apart).

One JSON per finished (system, seed or fold) goes to bench/sentiment_runs/ (with --folds:
bench/sentiment_folds_runs/, beside the fold files); a rerun skips those whose settings and data
are unchanged, so an interrupted benchmark resumes (--fresh reruns everything). All per-seed numbers and the
summary go to --out. Peers whose package does not import are skipped with the pip command that installs them.

Run (from anywhere; the data and configs are found from the repository root):
    python scripts/bench_sentiment.py                      # everything, seeds 0,1,2
    python scripts/bench_sentiment.py --models bow --seeds 0 --peers fasttext
    python scripts/bench_sentiment.py --folds 10 --models bow,bow_torch,lstm,cnn,cnn_glove,robust
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

from benchlib import (
    ROOT,
    cli_path,
    comma_list,
    fingerprint,
    fmt,
    key_of,
    load_done,
    log,
    markdown_table,
    mean_std,
    print_table,
    read_jsonl,
    save_run,
    show,
    write_json,
)

DATA = Path("data/sentiment")
SPLITS = {"train": DATA / "movies_train.csv", "valid": DATA / "movies_valid.csv", "test": DATA / "movies_test.csv"}
CROSS = {"amazon": DATA / "amazon.csv", "nyt": DATA / "nyt.csv", "tweets": DATA / "tweets.csv"}
CONFIGS = {
    "bow": Path("configs/sentiment_bow.yaml"),
    "bow_torch": Path("configs/sentiment_bow_torch.yaml"),
    "lstm": Path("configs/sentiment_lstm.yaml"),
    "cnn": Path("configs/sentiment_cnn.yaml"),
    "cnn_glove": Path("configs/sentiment_cnn_glove.yaml"),  # needs GloVe: scripts/prepare_glove.py
    "robust": Path("configs/sentiment_robust.yaml"),  # needs GloVe: scripts/prepare_glove.py
}
PEERS = ["fasttext", "tfidf", "nblr", "vader"]
C_GRID = [0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0, 300.0, 1000.0]
FASTTEXT = {"dim": 100, "epoch": 10, "lr": 0.1, "thread": 2}
FASTTEXT_ENV = {"MALLOC_MMAP_THRESHOLD_": "65536"}  # see the docstring: large allocations come zero-filled
REFERENCE = "fasttext-1gram"  # train-time ratios are against this system
INSTALL = {
    "fasttext": "pip install fasttext",
    "sklearn": "pip install scikit-learn",
    "vaderSentiment": "pip install vaderSentiment",
}


# --- shared helpers ------------------------------------------------------------------------------


def read_split(path: Path) -> tuple[list[str], list[str]]:
    import pandas as pd

    frame = pd.read_csv(path, dtype=str, keep_default_na=False, na_filter=False)
    return frame["text"].tolist(), frame["label"].str.strip().tolist()


def peer_tokens(text: str) -> list[str]:
    """The one tokenisation every peer sees: lower-case, split at whitespace."""
    return text.lower().split()


def accuracy(gold: list[str], predicted: list[str]) -> float:
    return sum(g == p for g, p in zip(gold, predicted)) / len(gold)


# --- systems -------------------------------------------------------------------------------------


def split_overrides(splits: dict) -> list[str]:
    return [f"data.{split}={path}" for split, path in splits.items()]


def textcls_settings(model: str, seed: int, splits: dict, args) -> dict:
    from textcls.config import load_config

    overrides = [f"train.seed={seed}", f"train.threads={args.threads}", f"train.device={args.device}"]
    config = load_config(CONFIGS[model], overrides + split_overrides(splits)).to_dict()
    config.pop("output", None)
    return {"config_file": str(CONFIGS[model]), "config": config}


def run_textcls(model: str, seed: int, splits: dict, name: str, args) -> dict:
    from textcls.checkpoint import load_run
    from textcls.config import load_config
    from textcls.predict import evaluate_file
    from textcls.train import train

    config = load_config(
        CONFIGS[model],
        [
            f"train.seed={seed}",
            f"train.threads={args.threads}",
            f"train.device={args.device}",
            f"output.dir={args.runs_dir / 'textcls'}",
            *split_overrides(splits),
        ],
    )
    start = time.perf_counter()
    result = train(config, out=args.runs_dir / "textcls" / f"{model}-{name}", overwrite=True, name=f"{model}-{name}")
    epochs = read_jsonl(result.run_dir / "metrics.jsonl")
    seconds = sum(e["seconds"] for e in epochs)
    tokens = sum(e["tokens_per_second"] * e["seconds"] for e in epochs if e.get("tokens_per_second"))
    run = load_run(result.run_dir, device="cpu")
    cross = {name: evaluate_file(run, path)["accuracy"] for name, path in CROSS.items()}
    return {
        "valid_accuracy": result.metrics["valid"]["accuracy"],
        "test_accuracy": result.metrics["test"]["accuracy"],
        "test_macro_f1": result.metrics["test"].get("macro_f1"),
        "cross": cross,
        "train_seconds": seconds,
        "tokens_per_second": tokens / seconds if seconds > 0 else None,
        "wall_seconds": time.perf_counter() - start,
        "epochs_run": len(epochs),
        "best_epoch": result.best_epoch,
        "epoch_seconds": [e["seconds"] for e in epochs],
        "run_dir": show(result.run_dir),
    }


def fasttext_settings(ngrams: int, seed: int, args) -> dict:
    return {
        **FASTTEXT,
        "thread": args.threads,
        "wordNgrams": ngrams,
        "seed": seed,
        "tokens": "lower-case, whitespace",
        "process": {"fresh": True, "env": FASTTEXT_ENV},
    }


def in_fresh_process(env: dict, function, *arguments):
    """`function(*arguments)` in a new Python process whose environment adds `env`."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    try:
        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
            return pool.submit(function, *arguments).result()
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def run_fasttext(ngrams: int, seed: int, splits: dict, args) -> dict:
    import fasttext

    def line(text: str) -> str:
        return " ".join(peer_tokens(text))

    def predict(model, texts: list[str]) -> list[str]:
        # The list form: the single-string form of predict() fails under NumPy 2 in fastText 0.9.3.
        labels, _ = model.predict([line(t) for t in texts], k=1)
        return [found[0].removeprefix("__label__") if found else "" for found in labels]

    start = time.perf_counter()
    texts, labels = read_split(splits["train"])
    with tempfile.TemporaryDirectory(prefix="bench-fasttext-") as tmp:
        train_file = Path(tmp) / "train.txt"
        train_file.write_text("".join(f"__label__{y} {line(t)}\n" for t, y in zip(texts, labels)), encoding="utf-8")
        settings = fasttext_settings(ngrams, seed, args)
        t0 = time.perf_counter()
        model = fasttext.train_supervised(
            str(train_file),
            dim=settings["dim"],
            epoch=settings["epoch"],
            lr=settings["lr"],
            wordNgrams=ngrams,
            thread=settings["thread"],
            seed=seed,
            verbose=0,
        )
        seconds = time.perf_counter() - t0
    tokens = sum(len(peer_tokens(t)) for t in texts) * settings["epoch"]  # words only (fastText also counts </s>)
    scores = {}
    for split in ["valid", "test"]:
        x, y = read_split(splits[split])
        scores[split] = accuracy(y, predict(model, x))
    cross = {}
    for name, path in CROSS.items():
        x, y = read_split(path)
        cross[name] = accuracy(y, predict(model, x))
    return {
        "valid_accuracy": scores["valid"],
        "test_accuracy": scores["test"],
        "cross": cross,
        "train_seconds": seconds,
        "tokens_per_second": tokens / seconds if seconds > 0 else None,
        "wall_seconds": time.perf_counter() - start,
    }


def linear_settings(kind: str, seed: int, args) -> dict:
    common = {
        "ngram_range": [1, 2],
        "tokens": "lower-case, whitespace",
        "C_grid": C_GRID,
        "classifier": "LogisticRegression(solver=liblinear, max_iter=1000)",
        "random_state": seed,
    }
    if kind == "tfidf":
        return {**common, "features": "TfidfVectorizer (defaults otherwise)"}
    return {**common, "features": "binary CountVectorizer x NB log-count ratio", "alpha": 1.0}


def run_linear(kind: str, seed: int, splits: dict, args) -> dict:
    """TF-IDF + LR, or NB log-count-ratio features + LR (Wang & Manning's NBSVM with a logistic loss)."""
    import numpy as np
    from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    start = time.perf_counter()
    data = {split: read_split(path) for split, path in splits.items()}
    data.update({name: read_split(path) for name, path in CROSS.items()})

    def featurize(texts: list[str], labels: list[str]):
        """Fits the features on the training texts; returns them and a transform for other texts."""
        if kind == "tfidf":
            vectorizer = TfidfVectorizer(ngram_range=(1, 2), tokenizer=peer_tokens, lowercase=False, token_pattern=None)
            x = vectorizer.fit_transform(texts)
            return x, vectorizer.transform
        vectorizer = CountVectorizer(
            ngram_range=(1, 2), tokenizer=peer_tokens, lowercase=False, token_pattern=None, binary=True
        )
        x = vectorizer.fit_transform(texts).tocsr()
        y = np.array([label == "pos" for label in labels])
        alpha = 1.0
        p = alpha + np.asarray(x[y].sum(0)).ravel()
        q = alpha + np.asarray(x[~y].sum(0)).ravel()
        ratio = np.log((p / p.sum()) / (q / q.sum()))
        return x.multiply(ratio).tocsr(), lambda t: vectorizer.transform(t).multiply(ratio).tocsr()

    def fit(x, labels, c: float):
        return LogisticRegression(C=c, solver="liblinear", max_iter=1000, random_state=seed).fit(x, labels)

    # Choose C on validation (ties: the smaller C).
    tune_start = time.perf_counter()
    x_train, transform = featurize(*data["train"])
    x_valid = transform(data["valid"][0])
    search = {}
    for c in C_GRID:
        search[c] = accuracy(data["valid"][1], fit(x_train, data["train"][1], c).predict(x_valid).tolist())
    best_c = max(C_GRID, key=lambda c: (search[c], -c))
    tune_seconds = time.perf_counter() - tune_start

    # The final model, timed from raw text: features + classifier at the chosen C.
    t0 = time.perf_counter()
    x_train, transform = featurize(*data["train"])
    model = fit(x_train, data["train"][1], best_c)
    seconds = time.perf_counter() - t0

    def score(split: str) -> float:
        texts, labels = data[split]
        return accuracy(labels, model.predict(transform(texts)).tolist())

    return {
        "valid_accuracy": score("valid"),
        "test_accuracy": score("test"),
        "cross": {name: score(name) for name in CROSS},
        "train_seconds": seconds,
        "tokens_per_second": None,
        "tune_seconds": tune_seconds,
        "C": best_c,
        "valid_accuracy_by_C": {str(c): a for c, a in search.items()},
        "wall_seconds": time.perf_counter() - start,
    }


def vader_settings(seed: int, args) -> dict:
    return {
        "package": "vaderSentiment",
        "rule": "compound > 0 -> pos, else neg",
        "text": "as in the file (VADER reads case and punctuation)",
    }


def run_vader(seed: int, splits: dict, args) -> dict:
    """VADER (Hutto & Gilbert 2014): a rule-based lexicon model, no training; the same for every seed."""
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    start = time.perf_counter()
    analyzer = SentimentIntensityAnalyzer()

    def score(path: Path) -> float:
        texts, labels = read_split(path)
        return accuracy(labels, ["pos" if analyzer.polarity_scores(t)["compound"] > 0 else "neg" for t in texts])

    return {
        "valid_accuracy": score(splits["valid"]),
        "test_accuracy": score(splits["test"]),
        "cross": {name: score(path) for name, path in CROSS.items()},
        "train_seconds": 0.0,
        "tokens_per_second": None,
        "wall_seconds": time.perf_counter() - start,
    }


def importable(module: str) -> bool:
    try:
        __import__(module)
        return True
    except Exception:  # a broken build can fail with more than ImportError
        return False


def write_folds(k: int, directory: Path) -> list[dict]:
    """The movie sentences (train, valid and test files pooled, in that order) cut into `k` folds, and for
    each fold its files: test = that fold; of the other k - 1 folds, a validation slice as large as one fold
    and the rest to train. The order is numpy's RandomState(0) permutation, so every system and every rerun
    gets the same folds. Returns {"train", "valid", "test": path} per fold."""
    import numpy as np
    import pandas as pd

    pooled = pd.concat(
        [pd.read_csv(SPLITS[s], dtype=str, keep_default_na=False, na_filter=False) for s in SPLITS], ignore_index=True
    )
    order = np.random.RandomState(0).permutation(len(pooled))
    folds = [order[i::k] for i in range(k)]
    splits = []
    for i in range(k):
        rest = np.concatenate([folds[j] for j in range(k) if j != i])  # permuted order: a fair slice
        valid_size = len(rest) // (k - 1)
        rows = {"train": np.sort(rest[valid_size:]), "valid": np.sort(rest[:valid_size]), "test": np.sort(folds[i])}
        paths = {}
        for split, index in rows.items():
            paths[split] = directory / f"fold{i}" / f"{split}.csv"
            paths[split].parent.mkdir(parents=True, exist_ok=True)
            pooled.iloc[index].to_csv(paths[split], index=False)
        splits.append(paths)
    return splits


def plan(args) -> tuple[list[tuple], list[dict]]:
    """(system, replicate, seed, splits, settings function, run function) for every run to do, and the skipped
    peers. A replicate is a seed on the shipped split, or with --folds a fold (each at the first seed).
    Replicates are the outer loop, so that a change in the machine's load falls on every system alike."""
    systems, skipped = [], []
    for model in args.models:
        systems.append(
            (
                f"textcls-{model}",
                lambda seed, splits, m=model: textcls_settings(m, seed, splits, args),
                lambda seed, splits, name, m=model: run_textcls(m, seed, splits, name, args),
            )
        )
    for peer in args.peers:
        package = {"fasttext": "fasttext", "vader": "vaderSentiment"}.get(peer, "sklearn")
        names = {
            "fasttext": ["fasttext-1gram", "fasttext-2gram"],
            "tfidf": ["tfidf-lr"],
            "nblr": ["nb-lr"],
            "vader": ["vader"],
        }[peer]
        if not importable(package):
            skipped.append({"systems": names, "install": INSTALL[package]})
            print(f"skipped: {INSTALL[package]}  (for {', '.join(names)})")
        elif peer == "vader":
            systems.append(
                (
                    "vader",
                    lambda seed, splits: vader_settings(seed, args),
                    lambda seed, splits, name: run_vader(seed, splits, args),
                )
            )
        elif peer == "fasttext":
            for n in (1, 2):
                systems.append(
                    (
                        f"fasttext-{n}gram",
                        lambda seed, splits, n=n: fasttext_settings(n, seed, args),
                        lambda seed, splits, name, n=n: in_fresh_process(
                            FASTTEXT_ENV, run_fasttext, n, seed, splits, args
                        ),
                    )
                )
        else:
            systems.append(
                (
                    names[0],
                    lambda seed, splits, k=peer: linear_settings(k, seed, args),
                    lambda seed, splits, name, k=peer: run_linear(k, seed, splits, args),
                )
            )
    if args.folds:
        replicates = [(f"fold{i}", args.seeds[0], splits) for i, splits in enumerate(args.fold_splits)]
    else:
        replicates = [(f"seed{seed}", seed, SPLITS) for seed in args.seeds]
    jobs = [
        (name, replicate, seed, splits, settings, run)
        for replicate, seed, splits in replicates
        for name, settings, run in systems
    ]
    return jobs, skipped


# --- summary -------------------------------------------------------------------------------------


def summarize(records: list[dict]) -> list[dict]:
    systems = list(dict.fromkeys(r["system"] for r in records))
    rows = []
    for system in systems:
        runs = [r for r in records if r["system"] == system]
        row = {"system": system, "replicates": [r["replicate"] for r in runs]}
        for key in ["valid_accuracy", "test_accuracy"]:
            stat = mean_std([r[key] for r in runs])
            row[key], row[f"{key}_std"] = stat["mean"], stat["std"]
        # Times: the median over seeds, which one run slowed by other work on the machine does not move.
        for key in ["train_seconds", "tokens_per_second", "wall_seconds"]:
            values = [r[key] for r in runs if r.get(key) is not None]
            row[key] = statistics.median(values) if values else None
            row[f"{key}_mean"] = statistics.fmean(values) if values else None
        loads = [x for r in runs for x in r.get("load_1min", [])]
        row["load_1min_max"] = max(loads) if loads else None
        row["cross"] = {name: mean_std([r["cross"][name] for r in runs])["mean"] for name in CROSS}
        row["cross_mean"] = statistics.fmean(row["cross"].values())
        if "C" in runs[0]:
            row["C"] = [r["C"] for r in runs]
        rows.append(row)
    reference = next((r["train_seconds"] for r in rows if r["system"] == REFERENCE), None)
    paired = {r["replicate"]: r["test_accuracy"] for r in records if r["system"] == PAIRED_WITH}
    for row in rows:
        row["train_time_vs_fasttext"] = row["train_seconds"] / reference if reference else None
        # Test accuracy minus NB-LR's on the same replicate (fold or seed): the paired difference, and on how
        # many replicates the system is at or above NB-LR.
        pairs = [
            (r["test_accuracy"], paired[r["replicate"]])
            for r in records
            if r["system"] == row["system"] != PAIRED_WITH and r["replicate"] in paired
        ]
        stat = mean_std([a - b for a, b in pairs])
        row["test_vs_nblr"], row["test_vs_nblr_std"] = stat["mean"], stat["std"]
        row["at_or_above_nblr"] = sum(a >= b for a, b in pairs) if pairs else None
        row["pairs_with_nblr"] = len(pairs)
    return rows


def table_cells(row: dict) -> list[str]:
    def pct(value):
        return "–" if value is None else f"{100 * value:.1f}"

    def pm(key):
        return "–" if row[key] is None else f"{100 * row[key]:.1f} ± {100 * row[key + '_std']:.1f}"

    above = "–" if row["at_or_above_nblr"] is None else f"{row['at_or_above_nblr']}/{row['pairs_with_nblr']}"
    return [
        row["system"],
        str(len(row["replicates"])),
        pm("valid_accuracy"),
        pm("test_accuracy"),
        "–" if row["test_vs_nblr"] is None else f"{100 * row['test_vs_nblr']:+.1f}",
        above,
        *[pct(row["cross"][name]) for name in CROSS],
        pct(row["cross_mean"]),
        fmt(row["train_seconds"]),
        fmt(row["tokens_per_second"], ",.0f"),
        fmt(row["train_time_vs_fasttext"], ".1f", "×"),
        fmt(row["wall_seconds"], ".1f"),
        fmt(row["load_1min_max"], ".1f"),
    ]


def title(args) -> str:
    over = f"{args.folds} folds of the movie sentences" if args.folds else "seeds on the shipped split"
    return (
        f"Sentiment, trained on movies: accuracy mean ± std over {over}, cross-domain mean over them, "
        "times median over them"
    )


HEADERS = [
    "system",
    "runs",
    "valid acc %",
    "test acc %",
    "vs nb-lr",
    ">= nb-lr",
    *[f"{n} %" for n in CROSS],
    "cross avg %",
    "train s",
    "train tok/s",
    "× fastText",
    "wall s",
    "max load",
]
CAPTION = (
    "vs nb-lr: test accuracy minus nb-lr's on the same fold or seed, mean in points; >= nb-lr: on how many.  "
    f"× fastText: train s / {REFERENCE}'s train s.  max load: highest 1-minute load average seen at the "
    f"start or end of a run ({os.cpu_count()} cores); far above the core count, times are unreliable."
)
PAIRED_WITH = "nb-lr"


# --- main ----------------------------------------------------------------------------------------


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="Writes one JSON per run to <runs-dir>/ and the full results to --out.",
    )
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated seeds (default: 0,1,2)")
    parser.add_argument(
        "--folds",
        type=int,
        default=0,
        help="cross-validate: K folds of the pooled movie sentences, one run per fold at the first seed "
        "(default: 0, the shipped split)",
    )
    parser.add_argument(
        "--models",
        default="bow,lstm,cnn",
        help=f"textcls configs to train: {', '.join(CONFIGS)} (default: bow,lstm,cnn; '' for none)",
    )
    parser.add_argument(
        "--peers", default=",".join(PEERS), help=f"peers to run: {', '.join(PEERS)} (default: all; '' for none)"
    )
    parser.add_argument(
        "--out", help="results JSON (default: bench/sentiment.json, or bench/sentiment_folds.json with --folds)"
    )
    parser.add_argument(
        "--runs-dir",
        help="per-run JSONs, fold files and textcls run folders (default: bench/sentiment_runs, or "
        "bench/sentiment_folds_runs with --folds)",
    )
    parser.add_argument("--fresh", action="store_true", help="rerun everything, ignoring finished runs")
    parser.add_argument("--threads", type=int, default=2, help="torch and fastText threads (default: 2)")
    parser.add_argument(
        "--device", default="cpu", choices=["cpu", "cuda", "auto"], help="textcls train.device (default: cpu)"
    )
    parser.add_argument("--markdown", action="store_true", help="also print the table as markdown")
    args = parser.parse_args(argv)
    try:
        args.seeds = [int(s) for s in comma_list(args.seeds)]
    except ValueError:
        parser.error(f"--seeds: expected integers separated by commas, got {args.seeds!r}")
    args.models, args.peers = comma_list(args.models), comma_list(args.peers)
    for name, given, valid in [("--models", args.models, list(CONFIGS)), ("--peers", args.peers, PEERS)]:
        unknown = [x for x in given if x not in valid]
        if unknown:
            parser.error(f"{name}: unknown {', '.join(unknown)} (choose from {', '.join(valid)})")
    if not args.seeds:
        parser.error("--seeds: give at least one seed")
    if args.folds == 1 or args.folds < 0:
        parser.error(f"--folds: give 2 or more (or 0 for the shipped split), got {args.folds}")
    name = "sentiment_folds" if args.folds else "sentiment"
    args.out = cli_path(args.out, f"bench/{name}.json")
    args.runs_dir = cli_path(args.runs_dir, f"bench/{name}_runs")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    os.chdir(ROOT)  # the configs and defaults name paths relative to the repository root
    import torch

    torch.set_num_threads(args.threads)
    args.fold_splits = write_folds(args.folds, args.runs_dir / "folds") if args.folds else []
    cross = fingerprint(CROSS.values(), names=False)
    jobs, skipped = plan(args)
    records, failures = [], []
    for i, (system, replicate, seed, splits, settings_fn, run_fn) in enumerate(jobs, 1):
        settings = settings_fn(seed, splits)
        data = fingerprint([*splits.values(), *CROSS.values()], names=False)  # as the saved runs' keys hash it
        key = key_of(settings, data)
        path, label = args.runs_dir / f"{system}-{replicate}.json", f"[{i}/{len(jobs)}] {system} {replicate}"
        saved = load_done(path, key, label, args.fresh)
        if saved is not None:
            records.append({"replicate": f"seed{saved['seed']}", **saved})
            continue
        log(f"{label} ...")
        load_before = os.getloadavg()[0]
        try:
            result = run_fn(seed, splits, replicate)
        except Exception as exc:  # one failed run is reported, and the others still run
            log(f"    FAILED: {type(exc).__name__}: {exc}")
            failures.append({"system": system, "replicate": replicate, "error": f"{type(exc).__name__}: {exc}"})
            continue
        records.append(
            save_run(
                path,
                {
                    "system": system,
                    "replicate": replicate,
                    "seed": seed,
                    **result,
                    "load_1min": [load_before, os.getloadavg()[0]],
                    "settings": settings,
                    "data": data,
                    "key": key,
                },
            )
        )
        log(
            f"    test {100 * result['test_accuracy']:.1f}%  cross "
            + " ".join(f"{n} {100 * a:.1f}%" for n, a in result["cross"].items())
            + f"  train {result['train_seconds']:.2f} s  (wall {result['wall_seconds']:.1f} s)"
        )

    rows = summarize(records)
    if rows:
        cells = [table_cells(row) for row in rows]
        print_table(title(args), HEADERS, cells, caption=CAPTION)
        if args.markdown:
            print(markdown_table(HEADERS, cells))
    versions = {"python": platform.python_version(), "torch": torch.__version__}
    for module in ["fasttext", "sklearn", "numpy"]:
        try:
            versions[module] = getattr(__import__(module), "__version__", "unknown")
        except Exception:
            versions[module] = None
    if versions.get("fasttext") == "unknown":
        from importlib.metadata import version

        versions["fasttext"] = version("fasttext")
    write_json(
        args.out,
        {
            "what": "movie-review sentiment: test and cross-domain accuracy, train time; mean/std over "
            + (f"{args.folds} folds" if args.folds else "seeds"),
            "seeds": args.seeds,
            "folds": args.folds,
            "threads": args.threads,
            "cross_data": cross,
            "versions": versions,
            "reference_for_ratios": REFERENCE,
            "skipped": skipped,
            "failed": failures,
            "summary": rows,
            "runs": records,
        },
    )
    for failure in failures:
        print(f"failed: {failure['system']} {failure['replicate']}: {failure['error']}")
    log(f"wrote {show(args.out)} ({len(records)} runs; per-run JSONs in {show(args.runs_dir)})")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
