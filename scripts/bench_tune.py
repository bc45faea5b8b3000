"""Tuning benchmark: `textcls tune` against fastText's autotune, the same budget, the shipped movie split.

textcls: `textcls tune -c configs/sentiment_bow_torch.yaml --budget B` (its default bag-of-words space),
the best trial's run folder scored once on the test split. fastText 0.9.3: `train_supervised` with
autotuneValidationFile = the validation split and autotuneDuration = B (its own search, then its
final training on the best settings), scored once on the test split, on lower-cased whitespace
tokens. Wall time: each whole search, its final model included, from start to a model on disk or
in memory; fastText in a fresh process (see bench_sentiment.py). Run on otherwise idle cores.
Writes --out (JSON), prints a table and its Markdown.

    python scripts/bench_tune.py                   # budget 60 s, seeds 0,1,2
    python scripts/bench_tune.py --budget 30 --seeds 0
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_sentiment import FASTTEXT_ENV, accuracy, in_fresh_process, peer_tokens, read_split

from benchlib import ROOT, log, markdown_table, mean_std, print_table, seeded_options, write_json

SPLITS = {split: ROOT / "data" / "sentiment" / f"movies_{split}.csv" for split in ("train", "valid", "test")}
CONFIG = ROOT / "configs" / "sentiment_bow_torch.yaml"


def run_textcls(budget: int, seed: int, runs: Path) -> dict:
    from textcls.checkpoint import load_run
    from textcls.predict import evaluate_file

    out = runs / f"tune-seed{seed}"
    subprocess.run(["rm", "-rf", str(out)], check=True)
    start = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "textcls.cli",
            "tune",
            "-c",
            str(CONFIG),
            "--budget",
            f"{budget}s",
            "-o",
            str(out),
            "--set",
            f"train.seed={seed}",
        ],
        check=True,
        cwd=ROOT,
        stderr=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
    )
    seconds = time.perf_counter() - start
    trials = sum(1 for _ in open(out / "trials.csv")) - 1
    return {
        "test_accuracy": evaluate_file(load_run(out / "best_run"), SPLITS["test"])["accuracy"],
        "seconds": seconds,
        "trials": trials,
    }


def run_fasttext(budget: int, seed: int) -> dict:
    import fasttext

    line = lambda t: " ".join(peer_tokens(t))
    with tempfile.TemporaryDirectory(prefix="bench-tune-") as tmp:
        files = {}
        for split in ("train", "valid"):
            texts, labels = read_split(SPLITS[split])
            files[split] = Path(tmp) / f"{split}.txt"
            files[split].write_text(
                "".join(f"__label__{y} {line(t)}\n" for t, y in zip(texts, labels)), encoding="utf-8"
            )
        start = time.perf_counter()
        model = fasttext.train_supervised(
            str(files["train"]),
            autotuneValidationFile=str(files["valid"]),
            autotuneDuration=budget,
            thread=2,
            seed=seed,
            verbose=0,
        )
        seconds = time.perf_counter() - start
    texts, gold = read_split(SPLITS["test"])
    predicted = [found[0].removeprefix("__label__") for found in model.predict([line(t) for t in texts], k=1)[0]]
    return {"test_accuracy": accuracy(gold, predicted), "seconds": seconds, "trials": None}


def main() -> None:
    def options(parser):
        parser.add_argument("--budget", type=int, default=60, help="seconds for each search")

    args, seeds = seeded_options(__doc__, "tune", options)
    results = {"textcls tune": {}, "fastText autotune": {}}
    for seed in seeds:
        log(f"seed {seed}: textcls tune")
        results["textcls tune"][seed] = run_textcls(args.budget, seed, Path(args.runs))
        log(f"seed {seed}: fastText autotune")
        results["fastText autotune"][seed] = in_fresh_process(FASTTEXT_ENV, run_fasttext, args.budget, seed)
    summary = {
        s: {k: mean_std([r[k] for r in runs.values()]) for k in ("test_accuracy", "seconds", "trials")}
        for s, runs in results.items()
    }
    columns = ["search", "budget s", "movie test accuracy %", "wall s", "trials"]
    rows = [
        [
            s,
            str(args.budget),
            f"{100 * c['test_accuracy']['mean']:.1f} ± {100 * c['test_accuracy']['std']:.1f}",
            f"{c['seconds']['mean']:.0f}",
            "" if c["trials"]["mean"] is None else f"{c['trials']['mean']:.1f}",
        ]
        for s, c in summary.items()
    ]
    print_table(
        f"Hyperparameter search with a {args.budget} s budget (seeds {args.seeds})", columns, rows, left=["search"]
    )
    print(markdown_table(columns, rows, left=["search"]))
    write_json(Path(args.out), {"budget": args.budget, "seeds": seeds, "runs": results, "summary": summary})


if __name__ == "__main__":
    main()
