"""Cross-domain sentiment: which levers carry a movie-trained model to Amazon, NYT and tweets.

Every variant below trains on data/sentiment/movies_train.csv (a shipped config plus overrides) for
each seed and is scored, with VADER beside it, on:
  * movies: the validation and test splits;
  * select: the first half of amazon.csv, nyt.csv and tweets.csv (in file order): with movie
    validation, what levers and the shipped configs/sentiment_robust.yaml are chosen on;
  * report: the second halves, never looked at while choosing; and the whole files (as the peers'
    figures in the README are measured).
Variants with `+self` or `+lexicon teacher` also self-train (data.unlabeled) on the select halves' texts, labels removed
(data/sentiment/unlabeled.csv), labelled by the model before (`+self`) or by the lexicon
(`+lexicon teacher`); `+features` read lexicon valences as inputs (model.lexicon_features).
Accuracy in %, mean over seeds; seeds are paired (a variant and the baseline share each seed).
VADER (vaderSentiment, rule-based, no training): compound > 0 -> pos, else neg, on the text as in
the file. Writes --out (JSON with every run) and prints a table and its Markdown.

    python scripts/bench_robust.py                                 # every variant, seeds 0,1,2
    python scripts/bench_robust.py --variants bow,robust --seeds 0
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np
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

SENTIMENT = ROOT / "data" / "sentiment"
MOVIES = {"movies valid": SENTIMENT / "movies_valid.csv", "movies test": SENTIMENT / "movies_test.csv"}
DOMAINS = {"amazon": SENTIMENT / "amazon.csv", "nyt": SENTIMENT / "nyt.csv", "tweets": SENTIMENT / "tweets.csv"}
GLOVE = ["model.pretrained=data/vectors/glove.6B.50d.npy", "model.embedding_dim=50"]  # scripts/prepare_glove.py
LEXICON = ["loss.rationale.weight=1.0", "data.lexicon=data/lexicons/vader.csv", "data.lexicon_threshold=1.0"]
FEATURES = ["model.lexicon_features=[data/lexicons/vader.csv]"]  # valences as inputs (textcls/lexicon_features.py)
UNLABELED = SENTIMENT / "unlabeled.csv"  # the select halves' texts, labels dropped (scripts/prepare_sentiment.py)
SELF = ["data.unlabeled=data/sentiment/unlabeled.csv"]
TEACHER = ["train.self_training.teacher=lexicon", "train.self_training.threshold=0.5"]  # VADER-like labels
EVERY = [  # every text with a valence, at full weight, as the lexicon labels them
    "train.self_training.threshold=0.0",
    "train.self_training.balance=false",
    "train.self_training.weight=1.0",
]
ON_MOVIES = [  # no other-domain text: the lexicon relabels the movie training texts, every one it can
    *FEATURES,
    *TEACHER,
    *EVERY[:2],
    "data.unlabeled=data/sentiment/movies_train.csv",
]
ALL_FEATURES = ["model.lexicon_features=[data/lexicons/vader.csv,data/lexicons/afinn.csv,data/lexicons/bing.csv]"]

# name -> (config, overrides)
VARIANTS = {
    "bow": ("sentiment_bow_torch", []),
    "bow+lexicon": ("sentiment_bow_torch", LEXICON),
    "bow+lexicon examples": ("sentiment_bow_torch", LEXICON + ["data.lexicon_examples=true"]),
    "bow+glove": ("sentiment_bow_torch", GLOVE),
    "bow+glove frozen": ("sentiment_bow_torch", GLOVE + ["model.freeze_pretrained=true"]),
    "bow+glove+lexicon examples": ("sentiment_bow_torch", GLOVE + LEXICON + ["data.lexicon_examples=true"]),
    "bow+glove+lexicon examples+word dropout": (
        "sentiment_bow_torch",
        GLOVE + LEXICON + ["data.lexicon_examples=true", "model.word_dropout=0.3"],
    ),
    "bow+glove+lexicon examples x5": (
        "sentiment_bow_torch",
        GLOVE + LEXICON[1:] + ["loss.rationale.weight=5.0", "data.lexicon_examples=true"],
    ),
    "lstm": ("sentiment_lstm", []),
    "lstm+glove+lexicon examples": ("sentiment_lstm", GLOVE + LEXICON + ["data.lexicon_examples=true"]),
    "lstm+glove all+lexicon examples": (
        "sentiment_lstm",
        GLOVE + LEXICON + ["data.lexicon_examples=true", "model.pretrained_words=all"],
    ),
    "lstm+glove all frozen+lexicon examples": (
        "sentiment_lstm",
        GLOVE + LEXICON + ["data.lexicon_examples=true", "model.pretrained_words=all", "model.freeze_pretrained=true"],
    ),
    "robust": ("sentiment_robust", []),
    "transfer": ("sentiment_transfer", []),  # robust+features+lexicon teacher every text, as shipped
    "bow+features": ("sentiment_bow_torch", FEATURES),
    "bow+features all": ("sentiment_bow_torch", ALL_FEATURES),
    "bow+glove+lexicon examples+features": (
        "sentiment_bow_torch",
        GLOVE + LEXICON + ["data.lexicon_examples=true"] + FEATURES,
    ),
    "lstm+features": ("sentiment_lstm", FEATURES),
    "robust+features": ("sentiment_robust", FEATURES),
    "robust+features all": ("sentiment_robust", ALL_FEATURES),
    "bow+features+word dropout": ("sentiment_bow_torch", FEATURES + ["model.word_dropout=0.5"]),
    "robust+features+word dropout": ("sentiment_robust", FEATURES + ["model.word_dropout=0.3"]),
    "bow+features+lexicon teacher": ("sentiment_bow_torch", FEATURES + SELF + TEACHER),
    "robust+lexicon teacher": ("sentiment_robust", SELF + TEACHER),
    "robust+features+lexicon teacher": ("sentiment_robust", FEATURES + SELF + TEACHER),
    "robust+lexicon teacher every text": ("sentiment_robust", SELF + TEACHER + EVERY),
    "robust+features+lexicon teacher every text": ("sentiment_robust", FEATURES + SELF + TEACHER + EVERY),
    "robust+features+lexicon teacher every text+model round": (
        "sentiment_robust",
        FEATURES + SELF + TEACHER + EVERY + ["train.self_training.rounds=2"],
    ),
    "robust+features+lexicon teacher on movies": ("sentiment_robust", ON_MOVIES),
    "robust+features+lexicon teacher on movies 0.2": (
        "sentiment_robust",
        ON_MOVIES + ["train.self_training.weight=0.2"],
    ),
    "robust+features+lexicon teacher on movies 1.0": (
        "sentiment_robust",
        ON_MOVIES + ["train.self_training.weight=1.0"],
    ),
    "bow+self": ("sentiment_bow_torch", SELF),
    "bow+features+self": ("sentiment_bow_torch", FEATURES + SELF),
    "robust+self": ("sentiment_robust", SELF),
    "robust+features+self": ("sentiment_robust", FEATURES + SELF),
}


def slug(name: str, seed: int) -> str:
    """A variant's run name as a file name: `bow+glove frozen`, 0 -> `bow-glove_frozen-seed0`."""
    return f"{name.replace(' ', '_').replace('+', '-')}-seed{seed}"


def read(path: Path) -> tuple[list[str], np.ndarray]:
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    return frame["text"].tolist(), (frame["label"] == "pos").to_numpy()


def read_texts(path: Path) -> list[str]:
    return pd.read_csv(path, dtype=str, keep_default_na=False)["text"].tolist()


def scores(predicted_pos: dict[str, np.ndarray], gold: dict[str, np.ndarray]) -> dict:
    """Accuracy on each movie split, each domain's halves and whole file; means over the domains."""
    out = {name: 100 * float((predicted_pos[name] == gold[name]).mean()) for name in MOVIES}
    for part in ("select", "report", "whole"):
        for name in DOMAINS:
            p, g = predicted_pos[name], gold[name]
            half = len(g) // 2
            cut = {"select": slice(0, half), "report": slice(half, None), "whole": slice(None)}[part]
            out[f"{name} {part}"] = 100 * float((p[cut] == g[cut]).mean())
        out[f"mean {part}"] = float(np.mean([out[f"{name} {part}"] for name in DOMAINS]))
    return out


def run_variant(name: str, seed: int, texts: dict, gold: dict, runs: Path) -> dict:
    from textcls.checkpoint import load_run
    from textcls.config import load_config
    from textcls.predict import predict_texts
    from textcls.train import train

    config_name, overrides = VARIANTS[name]
    config = load_config(ROOT / "configs" / f"{config_name}.yaml", overrides + [f"train.seed={seed}"])
    result = train(config, out=runs / slug(name, seed), overwrite=True)
    run = load_run(result.run_dir)
    predicted = {k: np.array([r["label"] == "pos" for r in predict_texts(run, t)]) for k, t in texts.items()}
    return scores(predicted, gold)


def run_vader(texts: dict, gold: dict) -> dict:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    analyzer = SentimentIntensityAnalyzer()
    return scores(
        {k: np.array([analyzer.polarity_scores(x)["compound"] > 0 for x in t]) for k, t in texts.items()}, gold
    )


COLUMNS = [
    "movies valid",
    "movies test",
    "mean select",
    "amazon report",
    "nyt report",
    "tweets report",
    "mean report",
    "mean whole",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated seeds")
    parser.add_argument("--variants", default=",".join(VARIANTS), help="variants to train (comma-separated)")
    parser.add_argument("--runs", default=str(ROOT / "bench" / "robust_runs"))
    parser.add_argument("--out", default=str(ROOT / "bench" / "robust.json"))
    parser.add_argument("--fresh", action="store_true", help="rerun runs finished before")
    args = parser.parse_args()
    os.chdir(ROOT)  # configs name their data relative to the repository
    seeds, runs = [int(s) for s in comma_list(args.seeds)], Path(args.runs)
    loaded = {name: read(path) for name, path in {**MOVIES, **DOMAINS}.items()}
    texts, gold = {k: v[0] for k, v in loaded.items()}, {k: v[1] for k, v in loaded.items()}
    data = fingerprint([*MOVIES.values(), *DOMAINS.values(), ROOT / "data" / "lexicons" / "vader.csv"], names=False)
    select = [t for name in DOMAINS for t in texts[name][: len(texts[name]) // 2]]
    if read_texts(UNLABELED) != select:  # self-training reads the select halves, never the report ones
        raise SystemExit(f"{UNLABELED}: not the select halves' texts; rebuild it with scripts/prepare_sentiment.py")

    results = {"vader": {0: run_vader(texts, gold)}}
    for seed in seeds:  # seeds outside: every variant of a seed before the next seed
        for name in comma_list(args.variants):
            config_name, overrides = VARIANTS[name]
            key = key_of((ROOT / "configs" / f"{config_name}.yaml").read_text(), overrides, seed, data)
            path, label = runs / f"{slug(name, seed)}.json", f"{name}, seed {seed}"
            record = load_done(path, key, label, args.fresh)
            if record is None:
                log(label)
                record = save_run(path, {"key": key, **run_variant(name, seed, texts, gold, runs)})
            results.setdefault(name, {})[seed] = record

    summary = {
        name: {k: mean_std([r[k] for r in by_seed.values()]) for k in COLUMNS} for name, by_seed in results.items()
    }
    rows = [[name] + [f"{c[k]['mean']:.1f}" for k in COLUMNS] for name, c in summary.items()]
    print_table(
        f"Trained on movies, accuracy % (mean over seeds {args.seeds}; select = first halves, report = second halves)",
        ["system"] + COLUMNS,
        rows,
        left=["system"],
    )
    print(markdown_table(["system"] + COLUMNS, rows, left=["system"]))
    write_json(
        Path(args.out),
        {
            "seeds": seeds,
            "variants": {k: VARIANTS[k] for k in results if k in VARIANTS},
            "runs": results,
            "summary": summary,
        },
    )


if __name__ == "__main__":
    main()
