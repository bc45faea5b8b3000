"""Is a resumed run the run that never stopped, on this device? Trains one config three ways:
straight through twice (the second run measures the device's own run-to-run noise), and once
crashed after an epoch (an exception, as a dying process leaves the folder) then resumed. Compares
every weight of best and last and every logged number (timings aside).

    python scripts/check_resume.py                                      # the BiLSTM on the CPU
    python scripts/check_resume.py --set train.device=cuda --set train.precision=bf16
    python scripts/check_resume.py --config configs/sentiment_bow.yaml --crash-after 1

On the CPU the resumed run is expected to be bit-identical. On a GPU, some kernels (embedding
gradients, summed with atomics) give other bits from run to run: then the resumed run should differ
from the straight one no more than two straight runs differ from each other.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from benchlib import ROOT, fmt, log, print_table, read_jsonl, write_json

TIMINGS = {"seconds", "tokens_per_second"}


class Crash(Exception):
    pass


def weights_gap(a: Path, b: Path) -> tuple[float, bool]:
    """Largest absolute difference between two runs' best and last weights, and whether all are equal."""
    from safetensors.torch import load_file

    from textcls.checkpoint_files import checkpoint_dir

    gap, equal = 0.0, True
    for name in ("best", "last"):
        wa, wb = (load_file(str(checkpoint_dir(run, name) / "weights.safetensors")) for run in (a, b))
        for key in wa:
            equal &= bool((wa[key] == wb[key]).all())
            gap = max(gap, float((wa[key].double() - wb[key].double()).abs().max()))
    return gap, equal


def log_gap(a: Path, b: Path) -> tuple[float, bool]:
    """Largest difference between two runs' logged numbers (timings aside), and whether the logs are equal."""
    ra, rb = (
        [{k: v for k, v in r.items() if k not in TIMINGS} for r in read_jsonl(run / "metrics.jsonl")] for run in (a, b)
    )
    gaps = [
        abs(x[k] - y[k]) for x, y in zip(ra, rb) for k in x if isinstance(x[k], float) and isinstance(y.get(k), float)
    ]
    return max(gaps, default=0.0), ra == rb


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(ROOT / "configs" / "sentiment_lstm.yaml"))
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="a config override (repeatable)")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--crash-after", type=int, default=2, help="the epoch after which the run crashes")
    parser.add_argument("--out", default=str(ROOT / "bench" / "resume"))
    args = parser.parse_args()

    from textcls.config import load_config
    from textcls.train import train

    out = Path(args.out)
    shutil.rmtree(out, ignore_errors=True)
    config = load_config(args.config, [f"train.epochs={args.epochs}", "train.patience=null", *args.overrides])
    for name in ("straight", "again"):
        log(f"training {name}")
        train(config, out=out / name)

    def crash(epoch: int, record: dict) -> None:
        if epoch == args.crash_after:
            raise Crash()

    log(f"training resumed: crashes after epoch {args.crash_after}, then --resume")
    try:
        train(config, out=out / "resumed", after_epoch=crash)
    except Crash:
        pass
    train(resume=out / "resumed")

    rows, result = (
        [],
        {
            "config": args.config,
            "overrides": args.overrides,
            "epochs": args.epochs,
            "crash_after": args.crash_after,
            "device": config.train.device,
            "pairs": {},
        },
    )
    for label, other in [("straight vs again (noise)", "again"), ("straight vs resumed", "resumed")]:
        (w, w_equal), (m, m_equal) = weights_gap(out / "straight", out / other), log_gap(out / "straight", out / other)
        result["pairs"][label] = {
            "weights_max_abs_diff": w,
            "weights_equal": w_equal,
            "log_max_abs_diff": m,
            "logs_equal": m_equal,
        }
        rows.append([label, fmt(w, ".3g"), "yes" if w_equal else "no", fmt(m, ".3g"), "yes" if m_equal else "no"])
    print_table(
        f"resume on {config.train.device}: {Path(args.config).name}, {args.epochs} epochs, "
        f"crash after {args.crash_after}",
        ["runs", "weights max |diff|", "weights equal", "log max |diff|", "logs equal"],
        rows,
    )
    write_json(out / "resume.json", result)
    print(out / "resume.json", file=sys.stderr)


if __name__ == "__main__":
    main()
