"""Calibration benchmark: how far the shipped bag of words' probabilities are from its accuracy,
before and after the temperature it fits on validation, in domain and out of it.

Trains configs/sentiment_bow.yaml (or --config, with --set overrides) for each seed and scores the movie test split
and amazon.csv, nyt.csv and tweets.csv (trained on movies only): accuracy, the top-label ECE (15 bins) without
and with the temperature, Brier score and NLL with it. Mean ± std over seeds.

Run (from anywhere):
    python scripts/bench_calibration.py            # seeds 0,1,2
    python scripts/bench_calibration.py --set optim.weight_decay=0.01 --out bench/calibration_wd.json
"""

from __future__ import annotations

from pathlib import Path

from benchlib import ROOT, log, report_systems, seeded_options, show

CONFIG = ROOT / "configs" / "sentiment_bow.yaml"
SETS = {
    "movies test": "data/sentiment/movies_test.csv",
    "amazon": "data/sentiment/amazon.csv",
    "nyt": "data/sentiment/nyt.csv",
    "tweets": "data/sentiment/tweets.csv",
}
METRICS = ["accuracy", "ece_uncalibrated", "ece", "brier", "nll", "temperature"]


def main() -> None:
    from textcls.checkpoint import load_run
    from textcls.config import load_config
    from textcls.predict import evaluate_file
    from textcls.train import train

    def options(parser):
        parser.add_argument("--config", default=str(CONFIG), help="config to train (default: the shipped bag of words)")
        parser.add_argument(
            "--set", action="append", default=[], metavar="KEY=VALUE", help="config override (repeatable)"
        )

    args, seeds = seeded_options(__doc__, "calibration", options)
    config = Path(args.config).resolve()
    results = {name: {} for name in SETS}
    for seed in seeds:
        log(f"seed {seed}")
        result = train(
            load_config(config, args.set + [f"train.seed={seed}"]), out=Path(args.runs) / f"seed{seed}", overwrite=True
        )
        run = load_run(result.run_dir)
        for name, path in SETS.items():
            metrics = evaluate_file(run, ROOT / path)
            results[name][seed] = {k: metrics[k] for k in METRICS}
    report_systems(
        f"Bag of words trained on movies: calibration (seeds {','.join(map(str, seeds))})",
        results,
        METRICS,
        Path(args.out),
        {"config": show(config), "overrides": args.set, "seeds": seeds},
        row_name="test set",
    )


if __name__ == "__main__":
    main()
