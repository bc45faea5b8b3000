"""Rationale-supervision benchmark: does training word scores on a lexicon (lambda > 0) help?

textcls can train each token's score on word targets alongside the sentence label
(total = sentence_loss + lambda * rationale_loss). This script measures what that buys, with lambda = 0
(the same model and data, word targets ignored) as the control, paired by seed.

Part 1, synthetic (true rationales known by construction; BoW only):
  A seeded vocabulary of filler words plus positive and negative polarity words (Zipf-distributed, so
  many polarity words are rare). Each sentence is filler plus a few polarity words; the label is the
  majority polarity (never a tie), so the polarity words are exactly the rationale. The training
  lexicon gives targets for HALF of the polarity words (every other word by frequency rank); the test
  split is scored against ALL polarity words, and separately against the half never given as targets
  (does supervision transfer to words it never saw as targets?). Reported: test accuracy, word
  polarity ROC-AUC / AUPRC, evidence AUPRC and token F1 (micro), faithfulness (comprehensiveness,
  sufficiency).

Part 2, the shipped movie-review sentences with the VADER lexicon as word targets
(configs/sentiment_bow_rationale.yaml: |score| >= 1, 20% of the lexicon's words held out of training):
  * BoW at training-set sizes 200, 1000 and all (8,454): the first N rows of a shuffle of
    movies_train.csv seeded by the run's seed (lambda = 0 and lambda > 0 of one seed share a subset);
    validation and test splits are always the full movies_valid / movies_test.
  * LSTM (configs/sentiment_lstm.yaml + the same data.lexicon* and loss.rationale settings) at "all".
  * For each run: movie test accuracy; accuracy on amazon, nyt and tweets (trained on movies) and
    their mean; rationale metrics on the movie test split against lexicons NOT used as targets:
    Bing Liu (bing.csv), Bing restricted to the words that are NOT VADER training
    targets ("Bing new words": Bing and VADER share many words, so plain Bing is partly circular),
    AFINN with |score| >= 1; and word polarity on the VADER words held out of training
    (lexicon_words="heldout", movie test and each cross-domain set).
  Word polarity pools every labelled token of the split: a token's score (BoW: its word vector plus
  its share of the hashed bigrams around it) against its word's lexicon label.

Faithfulness (ERASER comprehensiveness and sufficiency) is taken from training's own final evaluation
of the test split; the other evaluations skip it (with_faithfulness=False) for speed.

Small training sets get few optimiser steps from the configs' 10 epochs (200 rows: 70 steps), so the
BoW can stop while still predicting one class; --min-steps N raises train.epochs where needed (early
stopping on validation still applies). Use it with its own --runs-dir/--out.

Every (part, model, size, lambda, seed) is one run; its results go to bench/rationale_runs/<name>.json,
and a rerun skips runs whose settings (config file and overrides as written) and data are unchanged, so
an interrupted grid resumes; changes to textcls itself are not detected: rerun with --fresh after them
(each run records the git commit it ran on). Run folders (large: BoW embeddings have 200k hash buckets)
are deleted after evaluation unless --keep-runs. At the end: mean +- std over seeds per (model, size,
lambda), the lambda-minus-control differences paired by seed, rich tables, and bench/rationale.json.

Run (from anywhere; paths are found from the repository root; 30 runs, about 20-45 minutes on 2 cores
depending on what else is running):
    python scripts/rationale_bench.py                          # add --markdown for the README tables
    python scripts/rationale_bench.py --quick                  # smoke test: size 200, 1 seed, 2 epochs
    python scripts/rationale_bench.py --lambdas 0,0.3,1 --markdown
    python scripts/rationale_bench.py --parts movies --models bow --sizes 200,1000 --min-steps 2000 \
        --runs-dir bench/rationale_minsteps_runs --out bench/rationale_minsteps.json
    python scripts/rationale_bench.py --parts movies --models bow --sizes all --threads 1 \
        --bow-set optim.name=adagrad --bow-set optim.lr=0.1 --bow-set model.dropout=0 \
        --bow-set model.word_dropout=0.1 --bow-set train.batch_size=1024 \
        --runs-dir bench/rationale_kernel_runs --out bench/rationale_kernel.json   # on the compiled engine
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import shutil
import statistics
import sys
import time
from pathlib import Path

from benchlib import (
    ROOT,
    cli_path,
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
    show,
    write_json,
)

DATA = Path("data/sentiment")
LEXICONS = Path("data/lexicons")
MOVIES = {"train": DATA / "movies_train.csv", "valid": DATA / "movies_valid.csv", "test": DATA / "movies_test.csv"}
CROSS = {"amazon": DATA / "amazon.csv", "nyt": DATA / "nyt.csv", "tweets": DATA / "tweets.csv"}
RATIONALE_CONFIG = Path("configs/sentiment_bow_rationale.yaml")  # BoW with VADER word targets
LSTM_CONFIG = Path("configs/sentiment_lstm.yaml")
BING, AFINN, VADER = LEXICONS / "bing.csv", LEXICONS / "afinn.csv", LEXICONS / "vader.csv"
MODELS = ["bow", "lstm"]
PARTS = ["synthetic", "movies"]
VERSION = 2  # bump when what a run records changes, so stale run JSONs are redone

# Synthetic data: sizes of the vocabulary and splits, and how sentences are drawn.
SYNTH = {
    "filler_words": 500,
    "polarity_words": 60,
    "zipf": 1.0,
    "filler_length": [5, 15],
    "for_label": {"1": 0.5, "2": 0.3, "3": 0.2},
    "train": 400,
    "valid": 500,
    "test": 2000,
    "data_seed": 12345,
}
SYNTH_QUICK = {**SYNTH, "train": 200, "valid": 200, "test": 500}


def lam_text(lam: float) -> str:
    return f"{lam:g}"


# --- data ----------------------------------------------------------------------------------------


def movie_subset(size: int | None, seed: int, data_dir: Path) -> Path:
    """The first `size` rows of movies_train.csv shuffled with RandomState(seed); None = the whole file."""
    if size is None:
        return MOVIES["train"]
    import numpy as np
    import pandas as pd

    frame = pd.read_csv(MOVIES["train"], dtype=str, keep_default_na=False, na_filter=False)
    if size > len(frame):
        raise SystemExit(f"--sizes: {size} is more than the {len(frame)} rows of {MOVIES['train']}")
    order = np.random.RandomState(seed).permutation(len(frame))[:size]
    path = data_dir / f"movies_train_n{size}_seed{seed}.csv"
    data_dir.mkdir(parents=True, exist_ok=True)
    text = frame.iloc[order].to_csv(index=False)
    if not path.is_file() or path.read_text() != text:
        path.write_text(text)
    return path


def bing_new_words(data_dir: Path) -> Path:
    """Bing Liu's words that are not VADER training targets (per the rationale config's threshold and holdout)."""
    from textcls.config import load_config
    from textcls.data import held_out, read_lexicon

    data = load_config(RATIONALE_CONFIG).data
    vader = read_lexicon(VADER, data.lexicon_threshold, data.lowercase)
    trained = {w for w in vader if not held_out(w, data.lexicon_holdout)}
    bing = read_lexicon(BING, 0.0, data.lowercase)
    lines = ["word,label"] + [
        f"{w},{t}" for w, t in sorted(bing.items()) if w not in trained and "," not in w and '"' not in w
    ]
    path = data_dir / "bing_not_vader_training.csv"
    data_dir.mkdir(parents=True, exist_ok=True)
    text = "\n".join(lines) + "\n"
    if not path.is_file() or path.read_text() != text:
        path.write_text(text)
    return path


def make_synthetic(settings: dict, data_dir: Path) -> dict:
    """Writes the synthetic splits and lexicons; returns their paths. Deterministic in `settings`."""
    import numpy as np

    rng = np.random.RandomState(settings["data_seed"])
    consonants, vowels = "bcdfghjklmnprstvwz", "aeiou"
    taken: set[str] = set()

    def new_words(count: int) -> list[str]:
        words = []
        while len(words) < count:
            syllables = rng.randint(2, 4)
            word = "".join(
                consonants[rng.randint(len(consonants))] + vowels[rng.randint(len(vowels))] for _ in range(syllables)
            )
            if word not in taken:
                taken.add(word)
                words.append(word)
        return words

    def zipf(count: int) -> np.ndarray:
        weights = 1.0 / np.arange(1, count + 1) ** settings["zipf"]
        return weights / weights.sum()

    filler = new_words(settings["filler_words"])
    polar = {"pos": new_words(settings["polarity_words"]), "neg": new_words(settings["polarity_words"])}
    p_filler, p_polar = zipf(len(filler)), zipf(settings["polarity_words"])
    counts = [int(k) for k in settings["for_label"]]
    p_counts = [settings["for_label"][k] for k in settings["for_label"]]
    low, high = settings["filler_length"]

    def sentence(label: str) -> str:
        other = "neg" if label == "pos" else "pos"
        n_for = int(rng.choice(counts, p=p_counts))
        n_against = int(rng.randint(0, n_for))  # 0 .. n_for - 1: the label is the strict majority
        words = list(rng.choice(filler, size=rng.randint(low, high + 1), p=p_filler))
        for side, n in ((label, n_for), (other, n_against)):
            for word in rng.choice(polar[side], size=n, p=p_polar):
                words.insert(rng.randint(len(words) + 1), str(word))
        return " ".join(words)

    data_dir.mkdir(parents=True, exist_ok=True)
    paths = {}
    for split in ["train", "valid", "test"]:
        labels = ["pos" if rng.rand() < 0.5 else "neg" for _ in range(settings[split])]
        lines = ["id,text,label"] + [f"{i + 1},{sentence(y)},{y}" for i, y in enumerate(labels)]
        paths[split] = data_dir / f"synthetic_{split}.csv"
        paths[split].write_text("\n".join(lines) + "\n")
    # Half of each class's words (every other one by frequency rank) are training targets.
    halves = {"trained": [], "heldout": []}
    for label, words in polar.items():
        for rank, word in enumerate(words):
            halves["trained" if rank % 2 == 0 else "heldout"].append((word, label))
    lexicons = {"all": halves["trained"] + halves["heldout"], **halves}
    for name, pairs in lexicons.items():
        paths[f"lexicon_{name}"] = data_dir / f"synthetic_lexicon_{name}.csv"
        paths[f"lexicon_{name}"].write_text("word,label\n" + "".join(f"{w},{y}\n" for w, y in pairs))
    return paths


# --- runs ----------------------------------------------------------------------------------------


def rationale_settings() -> dict:
    from textcls.config import load_config

    config = load_config(RATIONALE_CONFIG)
    return {
        "lexicon": config.data.lexicon,
        "lexicon_threshold": config.data.lexicon_threshold,
        "lexicon_holdout": config.data.lexicon_holdout,
        "pos_weight": config.loss.rationale.pos_weight,
        "normalize": config.loss.rationale.normalize,
    }


def common_overrides(seed: int, lam: float, config_file: Path, rows: int, args) -> list[str]:
    overrides = [
        f"loss.rationale.weight={lam}",
        f"train.seed={seed}",
        f"train.threads={args.threads}",
        "train.device=cpu",
        "output.save_last=false",
        f"output.dir={args.runs_dir / 'models'}",
    ]
    if args.epochs:
        overrides.append(f"train.epochs={args.epochs}")
    if args.min_steps:  # small training sets: enough epochs for at least --min-steps optimiser steps
        from textcls.config import load_config

        cfg = load_config(config_file).train
        epochs = args.epochs or cfg.epochs
        needed = math.ceil(args.min_steps / math.ceil(rows / cfg.batch_size))
        if needed > epochs:
            overrides.append(f"train.epochs={needed}")
    return overrides


def count_rows(path: Path) -> int:
    import pandas as pd

    return len(pd.read_csv(path, dtype=str, keep_default_na=False, na_filter=False))


def movie_job(model: str, size: int | None, lam: float, seed: int, args) -> dict:
    train_path = movie_subset(size, seed, args.data_dir)
    config_file = RATIONALE_CONFIG if model == "bow" else LSTM_CONFIG
    overrides = [
        f"data.train={show(train_path)}",
        *common_overrides(seed, lam, config_file, size or count_rows(train_path), args),
    ]
    if model == "lstm":
        r = rationale_settings()
        overrides = [
            f"data.lexicon={r['lexicon']}",
            f"data.lexicon_threshold={r['lexicon_threshold']}",
            f"data.lexicon_holdout={r['lexicon_holdout']}",
            f"loss.rationale.pos_weight={r['pos_weight']}",
            f"loss.rationale.normalize={r['normalize']}",
            *overrides,
        ]
    else:
        overrides += args.bow_set
    name = f"{model}-n{size or 'all'}-lam{lam_text(lam)}-seed{seed}"
    return {
        "part": "movies",
        "model": model,
        "size": size or "all",
        "lambda": lam,
        "seed": seed,
        "name": name,
        "config_file": str(config_file),
        "overrides": overrides,
        "train_path": train_path,
    }


def synthetic_job(lam: float, seed: int, paths: dict, args) -> dict:
    overrides = [
        f"data.train={show(paths['train'])}",
        f"data.valid={show(paths['valid'])}",
        f"data.test={show(paths['test'])}",
        f"data.lexicon={show(paths['lexicon_trained'])}",
        "data.lexicon_holdout=0",
        *common_overrides(seed, lam, RATIONALE_CONFIG, args.synth["train"], args),
        *args.bow_set,
    ]
    name = f"synthetic-bow-lam{lam_text(lam)}-seed{seed}"
    return {
        "part": "synthetic",
        "model": "bow",
        "size": args.synth["train"],
        "lambda": lam,
        "seed": seed,
        "name": name,
        "config_file": str(RATIONALE_CONFIG),
        "overrides": overrides,
        "paths": paths,
    }


def job_key(job: dict, args) -> tuple[str, dict]:
    """A run's key: the config as written (file + overrides, output section left out) and the data.

    Keyed on what the YAML and the overrides say, not on the resolved config, so that a new textcls
    option with a default that changes nothing does not redo the grid; after a change to textcls
    itself that changes results, rerun with --fresh. The resolved config is kept in the record.
    """
    import yaml

    from textcls.config import apply_overrides, load_config

    raw = apply_overrides(yaml.safe_load(Path(job["config_file"]).read_text()) or {}, job["overrides"])
    raw.pop("output", None)
    resolved = load_config(job["config_file"], job["overrides"]).to_dict()
    resolved.pop("output", None)
    if job["part"] == "movies":
        files = [job["train_path"], MOVIES["valid"], MOVIES["test"], *CROSS.values(), VADER, BING, AFINN]
        extra = {}
    else:
        files = list(job["paths"].values())
        extra = {"synthetic": args.synth}
    settings = {"config_file": job["config_file"], "config": raw, **extra}
    return key_of(VERSION, settings, fingerprint(files, names=True)), {**settings, "resolved_config": resolved}


def code_version() -> dict:
    """The textcls commit the runs used, and whether the working tree had changes to textcls/."""
    import subprocess

    def git(*command):
        done = subprocess.run(["git", *command], cwd=ROOT, capture_output=True, text=True)
        return done.stdout.strip() if done.returncode == 0 else None

    status = git("status", "--porcelain", "--", "textcls")
    return {
        "commit": git("rev-parse", "--short", "HEAD"),
        "textcls_modified": bool(status) if status is not None else None,
    }


def slim(metrics: dict) -> dict:
    """The metrics worth keeping from evaluate_file (drops the confusion matrix and per-class tables)."""
    keep = {k: metrics[k] for k in ("accuracy", "macro_f1", "loss", "rows") if k in metrics}
    for k in ("rationale", "faithfulness"):
        if k in metrics:
            keep[k] = metrics[k]
    return keep


def train_and_evaluate(job: dict, args) -> dict:
    from textcls.checkpoint import load_run
    from textcls.config import load_config
    from textcls.predict import evaluate_file
    from textcls.train import train

    config = load_config(job["config_file"], job["overrides"])
    out = args.runs_dir / "models" / job["name"]
    start = time.perf_counter()
    result = train(config, out=out, overwrite=True, name=job["name"])
    train_wall = time.perf_counter() - start
    epochs = read_jsonl(result.run_dir / "metrics.jsonl")
    run = load_run(result.run_dir, device="cpu")
    evals: dict[str, dict] = {}
    if job["part"] == "synthetic":
        paths = job["paths"]
        evals["test_all"] = slim(
            evaluate_file(run, paths["test"], lexicon=paths["lexicon_all"], with_faithfulness=False)
        )
        for half in ["trained", "heldout"]:
            evals[f"test_{half}"] = slim(
                evaluate_file(run, paths["test"], lexicon=paths[f"lexicon_{half}"], with_faithfulness=False)
            )
    else:
        test = MOVIES["test"]
        evals["test_bing"] = slim(evaluate_file(run, test, lexicon=BING, with_faithfulness=False))
        evals["test_bing_new"] = slim(evaluate_file(run, test, lexicon=args.bing_new, with_faithfulness=False))
        evals["test_afinn"] = slim(
            evaluate_file(run, test, lexicon=AFINN, lexicon_threshold=1.0, with_faithfulness=False)
        )
        evals["test_vader_heldout"] = slim(evaluate_file(run, test, lexicon_words="heldout", with_faithfulness=False))
        for name, path in CROSS.items():
            evals[f"{name}_vader_heldout"] = slim(
                evaluate_file(run, path, lexicon_words="heldout", with_faithfulness=False)
            )
    record = {
        "best_epoch": result.best_epoch,
        "epochs_run": len(epochs),
        "train_seconds": sum(e.get("seconds", 0.0) for e in epochs),
        "train_wall_seconds": train_wall,
        "wall_seconds": time.perf_counter() - start,
        "valid_accuracy": result.metrics["valid"]["accuracy"],
        "test_accuracy": result.metrics["test"]["accuracy"],
        # Against the training lexicon itself (circular; for reference only).
        "test_training_lexicon": slim(result.metrics["test"]),
        "eval": evals,
        # Faithfulness does not depend on a lexicon: train() already scored it on the test split.
        "test_faithfulness": result.metrics["test"].get("faithfulness"),
    }
    if args.keep_runs:
        record["run_dir"] = show(result.run_dir)
    else:
        shutil.rmtree(result.run_dir, ignore_errors=True)
    return record


# --- summary -------------------------------------------------------------------------------------


def get(data: dict, *path):
    for part in path:
        if not isinstance(data, dict) or data.get(part) is None:
            return None
        data = data[part]
    return data


def flat_metrics(record: dict) -> dict:
    """The numbers that are averaged over seeds, by short name."""
    e = record["eval"]
    if record["part"] == "synthetic":
        return {
            "test_acc": record["test_accuracy"],
            "wp_auc": get(e, "test_all", "rationale", "word_polarity", "roc_auc"),
            "wp_auprc": get(e, "test_all", "rationale", "word_polarity", "auprc"),
            "wp_auc_trained": get(e, "test_trained", "rationale", "word_polarity", "roc_auc"),
            "wp_auc_heldout": get(e, "test_heldout", "rationale", "word_polarity", "roc_auc"),
            "ev_auprc": get(e, "test_all", "rationale", "evidence", "auprc_micro"),
            "ev_f1": get(e, "test_all", "rationale", "evidence", "token_f1_micro"),
            "ev_auprc_heldout": get(e, "test_heldout", "rationale", "evidence", "auprc_micro"),
            "comprehensiveness": get(record, "test_faithfulness", "comprehensiveness_aopc"),
            "sufficiency": get(record, "test_faithfulness", "sufficiency_aopc"),
        }
    cross = {name: e[f"{name}_vader_heldout"]["accuracy"] for name in CROSS}
    return {
        "test_acc": record["test_accuracy"],
        **cross,
        "cross_mean": statistics.fmean(cross.values()),
        "bing_auc": get(e, "test_bing", "rationale", "word_polarity", "roc_auc"),
        "bing_auprc": get(e, "test_bing", "rationale", "word_polarity", "auprc"),
        "bing_ev_auprc": get(e, "test_bing", "rationale", "evidence", "auprc_micro"),
        "bing_ev_f1": get(e, "test_bing", "rationale", "evidence", "token_f1_micro"),
        "bing_new_auc": get(e, "test_bing_new", "rationale", "word_polarity", "roc_auc"),
        "afinn_auc": get(e, "test_afinn", "rationale", "word_polarity", "roc_auc"),
        "afinn_ev_auprc": get(e, "test_afinn", "rationale", "evidence", "auprc_micro"),
        "vader_heldout_auc": get(e, "test_vader_heldout", "rationale", "word_polarity", "roc_auc"),
        "vader_heldout_auc_cross": mean_std(
            [get(e, f"{n}_vader_heldout", "rationale", "word_polarity", "roc_auc") for n in CROSS]
        )["mean"],
        "comprehensiveness": get(record, "test_faithfulness", "comprehensiveness_aopc"),
        "sufficiency": get(record, "test_faithfulness", "sufficiency_aopc"),
    }


def size_order(size) -> float:
    return float("inf") if size == "all" else float(size)


def summarize(records: list[dict]) -> tuple[list[dict], list[dict]]:
    """Rows of mean/std over seeds per (part, model, size, lambda), and lambda-minus-control deltas paired by seed."""
    groups: dict[tuple, list[dict]] = {}
    for r in records:
        groups.setdefault((r["part"], r["model"], r["size"], r["lambda"]), []).append(r)
    rows = []
    for (part, model, size, lam), runs in sorted(
        groups.items(), key=lambda kv: (PARTS.index(kv[0][0]), MODELS.index(kv[0][1]), size_order(kv[0][2]), kv[0][3])
    ):
        flats = [flat_metrics(r) for r in runs]
        row = {
            "part": part,
            "model": model,
            "size": size,
            "lambda": lam,
            "seeds": sorted(r["seed"] for r in runs),
            "best_epoch": [r["best_epoch"] for r in runs],
            "train_seconds": mean_std([r["train_seconds"] for r in runs]),
        }
        for metric in flats[0]:
            row[metric] = mean_std([f[metric] for f in flats])
        rows.append(row)
    deltas = []
    by_key = {(r["part"], r["model"], r["size"], r["lambda"], r["seed"]): flat_metrics(r) for r in records}
    for row in rows:
        if row["lambda"] == 0:
            continue
        pairs = [
            (
                by_key[(row["part"], row["model"], row["size"], row["lambda"], s)],
                by_key.get((row["part"], row["model"], row["size"], 0.0, s)),
            )
            for s in row["seeds"]
        ]
        pairs = [(a, b) for a, b in pairs if b is not None]
        if not pairs:
            continue
        delta = {
            "part": row["part"],
            "model": row["model"],
            "size": row["size"],
            "lambda": row["lambda"],
            "pairs": len(pairs),
        }
        for metric in pairs[0][0]:
            delta[metric] = mean_std(
                [a[metric] - b[metric] if a[metric] is not None and b[metric] is not None else None for a, b in pairs]
            )
        deltas.append(delta)
    return rows, deltas


def fmt(stat: dict | None, kind: str, signed: bool = False) -> str:
    if not stat or stat.get("mean") is None:
        return "–"
    sign = "+" if signed else ""
    if kind == "pct":
        return f"{100 * stat['mean']:{sign}.1f} ± {100 * stat['std']:.1f}"
    return f"{stat['mean']:{sign}.3f} ± {stat['std']:.3f}"


MOVIE_COLUMNS = [
    ("test_acc", "movie test acc %", "pct"),
    ("amazon", "amazon %", "pct"),
    ("nyt", "nyt %", "pct"),
    ("tweets", "tweets %", "pct"),
    ("cross_mean", "cross-domain mean %", "pct"),
    ("bing_auc", "Bing word AUC", "num"),
    ("bing_ev_auprc", "Bing evidence AUPRC", "num"),
    ("bing_new_auc", "Bing new-words AUC", "num"),
    ("vader_heldout_auc", "VADER held-out AUC", "num"),
]
SYNTH_COLUMNS = [
    ("test_acc", "test acc %", "pct"),
    ("wp_auc", "word AUC (all)", "num"),
    ("wp_auprc", "word AUPRC (all)", "num"),
    ("wp_auc_trained", "word AUC (targeted half)", "num"),
    ("wp_auc_heldout", "word AUC (untargeted half)", "num"),
    ("ev_auprc", "evidence AUPRC", "num"),
    ("ev_f1", "evidence token F1", "num"),
    ("comprehensiveness", "compr.", "num"),
    ("sufficiency", "suff.", "num"),
]
DELTA_COLUMNS = [
    ("test_acc", "Δ movie test acc (pts)", "pct"),
    ("cross_mean", "Δ cross-domain mean (pts)", "pct"),
    ("bing_auc", "Δ Bing word AUC", "num"),
    ("bing_new_auc", "Δ Bing new-words AUC", "num"),
    ("vader_heldout_auc", "Δ VADER held-out AUC", "num"),
]
SYNTH_DELTA_COLUMNS = [
    ("test_acc", "Δ test acc (pts)", "pct"),
    ("wp_auc", "Δ word AUC (all)", "num"),
    ("wp_auc_trained", "Δ word AUC (targeted half)", "num"),
    ("wp_auc_heldout", "Δ word AUC (untargeted half)", "num"),
    ("ev_auprc", "Δ evidence AUPRC", "num"),
]


def tables(rows: list[dict], deltas: list[dict]) -> list[tuple[str, list[str], list[list[str]]]]:
    """(title, headers, cells) of each table to print."""
    out = []
    synth = [r for r in rows if r["part"] == "synthetic"]
    if synth:
        out.append(
            (
                f"Synthetic (known rationales), BoW, {synth[0]['size']} training sentences, test split; "
                "mean ± std over seeds",
                ["λ", "seeds", *[c[1] for c in SYNTH_COLUMNS]],
                [
                    [lam_text(r["lambda"]), str(len(r["seeds"])), *[fmt(r[k], kind) for k, _, kind in SYNTH_COLUMNS]]
                    for r in synth
                ],
            )
        )
    movies = [r for r in rows if r["part"] == "movies"]
    if movies:
        out.append(
            (
                "Movies + VADER targets: accuracy and rationale metrics on lexicons not used for training; "
                "mean ± std over seeds",
                ["model", "size", "λ", "seeds", *[c[1] for c in MOVIE_COLUMNS]],
                [
                    [
                        r["model"],
                        str(r["size"]),
                        lam_text(r["lambda"]),
                        str(len(r["seeds"])),
                        *[fmt(r[k], kind) for k, _, kind in MOVIE_COLUMNS],
                    ]
                    for r in movies
                ],
            )
        )
    synth_d = [d for d in deltas if d["part"] == "synthetic"]
    if synth_d:
        out.append(
            (
                "Synthetic: λ minus λ = 0, paired by seed (mean ± std of the differences)",
                ["λ", "pairs", *[c[1] for c in SYNTH_DELTA_COLUMNS]],
                [
                    [
                        lam_text(d["lambda"]),
                        str(d["pairs"]),
                        *[fmt(d[k], kind, True) for k, _, kind in SYNTH_DELTA_COLUMNS],
                    ]
                    for d in synth_d
                ],
            )
        )
    movie_d = [d for d in deltas if d["part"] == "movies"]
    if movie_d:
        out.append(
            (
                "Movies: λ minus λ = 0, paired by seed (mean ± std of the differences)",
                ["model", "size", "λ", "pairs", *[c[1] for c in DELTA_COLUMNS]],
                [
                    [
                        d["model"],
                        str(d["size"]),
                        lam_text(d["lambda"]),
                        str(d["pairs"]),
                        *[fmt(d[k], kind, True) for k, _, kind in DELTA_COLUMNS],
                    ]
                    for d in movie_d
                ],
            )
        )
    return out


def print_tables(specs) -> None:
    for title, headers, cells in specs:
        print_table(title, headers, cells, left=[h for h in headers[:3] if not h.startswith("seeds")], width=250)


def markdown(specs) -> str:
    return "\n\n".join(
        f"**{title}**\n\n" + markdown_table(headers, cells, left=("model", "size", "λ"))
        for title, headers, cells in specs
    )


# --- main ----------------------------------------------------------------------------------------


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Writes one JSON per run to <runs-dir>/ and the summary to --out.",
    )
    parser.add_argument(
        "--sizes", default="200,1000,all", help="BoW training-set sizes: numbers and/or 'all' (default: 200,1000,all)"
    )
    parser.add_argument("--lstm-sizes", default="all", help="LSTM training-set sizes (default: all)")
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated seeds (default: 0,1,2)")
    parser.add_argument("--lambdas", default="0,1", help="rationale loss weights; 0 is the control (default: 0,1)")
    parser.add_argument(
        "--models", default="bow,lstm", help="bow, lstm (default: both; the synthetic part is BoW only)"
    )
    parser.add_argument("--parts", default="synthetic,movies", help="synthetic, movies (default: both)")
    parser.add_argument("--epochs", type=int, help="override train.epochs (default: the configs' own)")
    parser.add_argument(
        "--min-steps",
        type=int,
        default=0,
        help="raise train.epochs where a small training set would get fewer optimiser steps than this "
        "(default: 0, the configs' epochs; full movies_train at 10 epochs is about 2,650 steps)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke test: size 200 (LSTM too), the first seed, 2 epochs, a small synthetic set; "
        "writes to bench/rationale_quick*",
    )
    parser.add_argument("--fresh", action="store_true", help="rerun everything, ignoring finished runs")
    parser.add_argument(
        "--keep-runs", action="store_true", help="keep the run folders (large) under <runs-dir>/models/"
    )
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default: 2)")
    parser.add_argument(
        "--bow-set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an override of the bag-of-words runs, after the others (repeatable): e.g. the compiled engine's recipe",
    )
    parser.add_argument("--markdown", action="store_true", help="also print the tables as Markdown")
    parser.add_argument("--out", help="summary JSON (default: bench/rationale.json)")
    parser.add_argument("--runs-dir", help="per-run JSONs (default: bench/rationale_runs)")
    args = parser.parse_args(argv)

    def sizes(text: str, option: str) -> list[int | None]:
        result = []
        for part in comma_list(text):
            if part == "all":
                result.append(None)
            elif part.isdigit() and int(part) > 0:
                result.append(int(part))
            else:
                parser.error(f"{option}: '{part}' is neither a positive number nor 'all'")
        return result

    try:
        args.seeds = [int(s) for s in comma_list(args.seeds)]
        args.lambdas = sorted({float(x) for x in comma_list(args.lambdas)})
    except ValueError:
        parser.error("--seeds takes integers and --lambdas numbers, separated by commas")
    if any(lam < 0 for lam in args.lambdas):
        parser.error("--lambdas: weights must be >= 0")
    if 0.0 not in args.lambdas:
        log("note: --lambdas has no 0, so there is no control to compare with")
    args.models, args.parts = comma_list(args.models), comma_list(args.parts)
    for option, given, valid in [("--models", args.models, MODELS), ("--parts", args.parts, PARTS)]:
        unknown = [x for x in given if x not in valid]
        if unknown:
            parser.error(f"{option}: unknown {', '.join(unknown)} (choose from {', '.join(valid)})")
    args.sizes, args.lstm_sizes = sizes(args.sizes, "--sizes"), sizes(args.lstm_sizes, "--lstm-sizes")
    if not args.seeds:
        parser.error("--seeds: give at least one seed")
    args.synth = SYNTH
    stem = "rationale"
    if args.quick:
        args.sizes, args.lstm_sizes, args.seeds = [200], [200], args.seeds[:1]
        args.epochs = args.epochs or 2
        args.synth = SYNTH_QUICK
        stem = "rationale_quick"
    args.out = cli_path(args.out, f"bench/{stem}.json")
    args.runs_dir = cli_path(args.runs_dir, f"bench/{stem}_runs")
    args.data_dir = args.runs_dir / "data"
    return args


def plan(args) -> list[dict]:
    jobs = []
    if "synthetic" in args.parts and "bow" in args.models:
        paths = make_synthetic(args.synth, args.data_dir / "synthetic")
        jobs += [synthetic_job(lam, seed, paths, args) for seed in args.seeds for lam in args.lambdas]
    if "movies" in args.parts:
        for model in args.models:
            for size in args.sizes if model == "bow" else args.lstm_sizes:
                jobs += [movie_job(model, size, lam, seed, args) for seed in args.seeds for lam in args.lambdas]
    return jobs


def main(argv=None) -> int:
    args = parse_args(argv)
    os.chdir(ROOT)  # configs and data are named relative to the repository root
    sys.path.insert(0, str(ROOT))
    import torch

    torch.set_num_threads(args.threads)
    args.bing_new = bing_new_words(args.data_dir)
    jobs = plan(args)
    records, start = [], time.perf_counter()
    for i, job in enumerate(jobs, 1):
        key, settings = job_key(job, args)
        path = args.runs_dir / f"{job['name']}.json"
        label = f"[{i}/{len(jobs)}] {job['name']}"
        saved = load_done(path, key, label, args.fresh)
        if saved is not None:
            records.append(saved)
            continue
        log(f"{label} ...")
        result = train_and_evaluate(job, args)
        record = {k: job[k] for k in ("part", "model", "size", "lambda", "seed", "name")}
        record.update(result)
        record.update({"settings": settings, "key": key, "code": code_version()})
        record = save_run(path, record)
        records.append(record)
        flat = flat_metrics(record)
        if job["part"] == "synthetic":
            log(
                f"    test {100 * flat['test_acc']:.1f}%  word AUC {flat['wp_auc']:.3f} (untargeted half "
                f"{flat['wp_auc_heldout']:.3f})  evidence AUPRC {flat['ev_auprc']:.3f}  "
                f"({record['wall_seconds']:.0f} s)"
            )
        else:
            log(
                f"    test {100 * flat['test_acc']:.1f}%  cross "
                + " ".join(f"{n} {100 * flat[n]:.1f}%" for n in CROSS)
                + f"  Bing AUC {flat['bing_auc']:.3f}  best epoch {record['best_epoch']}"
                + f"  ({record['wall_seconds']:.0f} s)"
            )

    rows, deltas = summarize(records)
    specs = tables(rows, deltas)
    print_tables(specs)
    if args.markdown:
        print(markdown(specs))
    write_json(
        args.out,
        {
            "what": "rationale supervision (lambda > 0) against lambda = 0: accuracy in and across domains, rationale "
            "metrics against lexicons not used for training; mean/std over seeds and paired differences",
            "seeds": args.seeds,
            "lambdas": args.lambdas,
            "threads": args.threads,
            "epochs_override": args.epochs,
            "min_steps": args.min_steps,
            "synthetic": args.synth if "synthetic" in args.parts else None,
            "versions": {"python": platform.python_version(), "torch": torch.__version__},
            "columns": {k: title for k, title, _ in MOVIE_COLUMNS + SYNTH_COLUMNS},
            "summary": rows,
            "paired_differences": deltas,
            "runs": records,
            "seconds": time.perf_counter() - start,
        },
    )
    log(f"wrote {show(args.out)} ({len(records)} runs; per-run JSONs in {show(args.runs_dir)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
