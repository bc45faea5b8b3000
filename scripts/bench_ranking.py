"""Ranking benchmark: RankNet against a pointwise MSE regression on the same scores and model.

Both train configs/sentiment_ranking.yaml (bag of words, movie-review sentences with their human
sentiment scores), once with loss.name ranknet and once with mse, for each seed, and are scored by the
same ranking metrics on the movie test split and, out of domain, on amazon.csv, nyt.csv and tweets.csv
(each file one group: every pair of its sentences counts). The table gives mean ± std over seeds.

Per-run metrics and the summary go to --out (JSON); the Markdown table for the README is printed too.

Run (from anywhere):
    python scripts/bench_ranking.py                 # seeds 0,1,2
    python scripts/bench_ranking.py --seeds 0
"""

from __future__ import annotations

from pathlib import Path

from benchlib import ROOT, fmt, log, markdown_table, mean_std, print_table, seeded_options, write_json

CONFIG = ROOT / "configs" / "sentiment_ranking.yaml"
SETS = {
    "movies test": "data/sentiment/movies_test.csv",
    "amazon": "data/sentiment/amazon.csv",
    "nyt": "data/sentiment/nyt.csv",
    "tweets": "data/sentiment/tweets.csv",
}
LOSSES = ["ranknet", "mse"]
METRICS = ["pairwise_accuracy", "kendall_tau", "spearman", "ndcg_at_10"]


def run_one(loss: str, seed: int, runs: Path) -> dict:
    from textcls.checkpoint import load_run
    from textcls.config import load_config
    from textcls.predict import evaluate_file
    from textcls.train import train

    config = load_config(CONFIG, [f"loss.name={loss}", f"train.seed={seed}"])
    result = train(config, out=runs / f"{loss}-seed{seed}", overwrite=True)
    run = load_run(result.run_dir)
    return {name: {k: evaluate_file(run, ROOT / path)[k] for k in METRICS} for name, path in SETS.items()}


def main() -> None:
    args, seeds = seeded_options(__doc__, "ranking")

    results = {loss: {} for loss in LOSSES}
    for seed in seeds:  # seeds outside: a busy spell on the machine falls on both losses alike
        for loss in LOSSES:
            log(f"{loss}, seed {seed}")
            results[loss][seed] = run_one(loss, seed, Path(args.runs))

    summary = {
        loss: {name: {k: mean_std([results[loss][s][name][k] for s in seeds]) for k in METRICS} for name in SETS}
        for loss in LOSSES
    }
    columns = ["loss", "test set"] + METRICS
    rows = [
        [loss, name]
        + [f"{fmt(cell['mean'], '.3f')} ± {fmt(cell['std'], '.3f')}" for cell in summary[loss][name].values()]
        for name in SETS
        for loss in LOSSES
    ]
    print_table(
        f"Ranking the sentences by sentiment score: mean ± std over seeds {','.join(map(str, seeds))}",
        columns,
        rows,
        left=["loss", "test set"],
    )
    print(markdown_table(columns, rows, left=["loss", "test set"]))
    write_json(
        Path(args.out), {"config": str(CONFIG.relative_to(ROOT)), "seeds": seeds, "runs": results, "summary": summary}
    )


if __name__ == "__main__":
    main()
