"""Trains every shipped config for one epoch with its own seed and records each run's metrics.json:
a change that should leave the maths alone (a refactor) must give identical numbers.

    python scripts/record_metrics.py --out before.json                     # record
    python scripts/record_metrics.py --out after.json --compare before.json  # record and compare

Each config runs in its own `textcls train` process (--set train.epochs=1, train.min_steps=null).
A config whose data or vectors the checkout lacks (e.g. GloVe, built by scripts/prepare_glove.py)
is named as skipped. Prints a table; writes JSON {config: metrics, or {"skipped": why}}.
Exits 1 when --compare finds a number that differs.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent


def missing_file(config: Path) -> str | None:
    """The first data or vectors file `config` names that is not on disk, or None."""
    raw = yaml.safe_load(config.read_text())
    paths = [raw["data"].get(k) for k in ("train", "valid", "test", "lexicon")] + [
        raw.get("model", {}).get("pretrained")
    ]
    return next((p for p in paths if isinstance(p, str) and not (ROOT / p).exists()), None)


def record(config: Path) -> dict:
    missing = missing_file(config)
    if missing:
        return {"skipped": f"{missing} is not in the checkout"}
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "run"
        command = [
            sys.executable,
            "-m",
            "textcls",
            "train",
            "-c",
            str(config),
            "--out",
            str(run),
            "-q",
            "--set",
            "train.epochs=1",
            "--set",
            "train.min_steps=null",
        ]
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
        if done.returncode != 0:
            return {
                "failed": done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit {done.returncode}"
            }
        return json.loads((run / "metrics.json").read_text())


def flatten(value, prefix: str = "") -> dict[str, object]:
    """{"test": {"accuracy": 0.8}} -> {"test.accuracy": 0.8}: every number by its path."""
    if isinstance(value, dict):
        return {k: v for key, item in value.items() for k, v in flatten(item, f"{prefix}{key}.").items()}
    if isinstance(value, list):
        return {k: v for i, item in enumerate(value) for k, v in flatten(item, f"{prefix}{i}.").items()}
    return {prefix.rstrip("."): value}


def differences(before: dict, after: dict) -> list[str]:
    """The paths whose values differ (numbers compared exactly; NaN equals NaN), and paths only one side has."""
    a, b = flatten(before), flatten(after)
    same = lambda x, y: x == y or (isinstance(x, float) and isinstance(y, float) and math.isnan(x) and math.isnan(y))
    return [k for k in sorted(a.keys() | b.keys()) if k not in a or k not in b or not same(a[k], b[k])]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="JSON file to write")
    parser.add_argument("--compare", type=Path, help="an earlier --out file: every number must be equal")
    parser.add_argument("--configs", nargs="*", type=Path, help="default: every configs/*.yaml")
    args = parser.parse_args()
    configs = args.configs or sorted((ROOT / "configs").glob("*.yaml"))
    earlier = json.loads(args.compare.read_text()) if args.compare else None
    console = Console(stderr=True)
    results, changed = {}, False
    table = Table("config", "status", "main numbers", *(["vs --compare"] if earlier is not None else []))
    for config in configs:
        console.log(f"training {config.name} for one epoch")
        metrics = results[config.stem] = record(config)
        status = next((f"{k}: {metrics[k]}" for k in ("skipped", "failed") if k in metrics), "trained")
        numbers = flatten(metrics.get("test", metrics.get("valid", {})))
        shown = ", ".join(f"{k} {v:.4f}" for k, v in list(numbers.items())[:3] if isinstance(v, float))
        row = [config.stem, status, shown]
        if earlier is not None:
            if config.stem not in earlier:
                row.append("not recorded before")
            else:
                diff = differences(earlier[config.stem], metrics)
                changed |= bool(diff)
                row.append("identical" if not diff else f"{len(diff)} differ: {', '.join(diff[:3])}")
        table.add_row(*row)
    args.out.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")
    Console().print(table)
    return 1 if changed else 0


if __name__ == "__main__":
    sys.exit(main())
