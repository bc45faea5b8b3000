"""Distributed benchmark: the same training as 1 process × 2 threads and as 2 torchrun processes × 1
thread (gloo), on this machine, side by side: whole-process wall time, the epochs' training seconds
(metrics.jsonl), and test accuracy. Run on otherwise idle cores. Writes --out (JSON), prints a table
and its Markdown.

    python scripts/bench_distributed.py                                 # configs/sentiment_bow_torch.yaml, seeds 0,1,2
    python scripts/bench_distributed.py --config configs/pos_lstm.yaml --set train.epochs=1 --seeds 0
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from benchlib import ROOT, log, markdown_table, mean_std, print_table, read_jsonl, seeded_options, write_json

LAYOUTS = {"1 process × 2 threads": (1, 2), "2 processes × 1 thread (torchrun, gloo)": (2, 1)}


def run_layout(processes: int, threads: int, config: Path, overrides: list[str], seed: int, out: Path) -> dict:
    sets = [a for o in overrides + [f"train.seed={seed}", f"train.threads={threads}"] for a in ("--set", o)]
    train = ["-m", "textcls", "train", "-c", str(config), "-o", str(out), "--overwrite", "-q", *sets]
    launcher = (
        [] if processes == 1 else ["-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(processes)]
    )
    env = {**os.environ, "MASTER_ADDR": "127.0.0.1", "OMP_NUM_THREADS": str(threads)}
    start = time.perf_counter()
    subprocess.run([sys.executable, *launcher, *train], check=True, cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    final = json.loads((out / "metrics.json").read_text())
    metric = final["monitor"]
    return {
        "wall_seconds": wall,
        "train_seconds": sum(r["seconds"] for r in read_jsonl(out / "metrics.jsonl")),
        "score": (final.get("test") or final["valid"])[metric],
        "metric": metric,
    }


def main() -> None:
    def options(parser):
        parser.add_argument("--config", default=str(ROOT / "configs" / "sentiment_bow_torch.yaml"))
        parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")

    args, seeds = seeded_options(__doc__, "distributed", options)
    results = {name: {} for name in LAYOUTS}
    for seed in seeds:
        for name, (processes, threads) in LAYOUTS.items():
            log(f"seed {seed}: {name}")
            results[name][seed] = run_layout(
                processes,
                threads,
                Path(args.config).resolve(),
                args.set,
                seed,
                Path(args.runs) / f"{processes}x{threads}-seed{seed}",
            )
    summary = {
        n: {k: mean_std([r[k] for r in runs.values()]) for k in ("wall_seconds", "train_seconds", "score")}
        for n, runs in results.items()
    }
    metric = next(iter(results[next(iter(LAYOUTS))].values()))["metric"]
    columns = ["layout", "wall s", "training s (epochs)", f"test {metric}"]
    rows = [
        [
            n,
            f"{c['wall_seconds']['mean']:.1f}",
            f"{c['train_seconds']['mean']:.1f}",
            f"{c['score']['mean']:.4f} ± {c['score']['std']:.4f}",
        ]
        for n, c in summary.items()
    ]
    print_table(f"{Path(args.config).name}: one process or two (seeds {args.seeds})", columns, rows, left=["layout"])
    print(markdown_table(columns, rows, left=["layout"]))
    write_json(
        Path(args.out),
        {"config": args.config, "overrides": args.set, "seeds": seeds, "runs": results, "summary": summary},
    )


if __name__ == "__main__":
    main()
