"""Helpers the benchmark scripts share (imported by them; never by the package).

Logging and JSON output, options, per-run records that let an interrupted benchmark resume, mean and standard
deviation over runs, and results tables (rich on the terminal, Markdown for the README).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]  # the repository


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def write_json(path: Path, data) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)  # never a half-written result under the real name


def read_jsonl(path: Path) -> list[dict]:
    """One object per non-blank line (textcls's metrics.jsonl: one per epoch)."""
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def show(path: Path) -> str:
    """A path as the repository sees it, when it lies inside the repository."""
    try:
        return str(Path(path).resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


# --- options -------------------------------------------------------------------------------------


def comma_list(text: str) -> list[str]:
    """`a, b,,c` -> ["a", "b", "c"]."""
    return [part.strip() for part in text.split(",") if part.strip()]


def cli_path(given: str | None, default: str) -> Path:
    """A path option: given on the command line, it is read from the current folder; left out, `default` lies in
    the repository (so that a benchmark run from anywhere finds and fills the same bench/ folder)."""
    return Path(given).resolve() if given else ROOT / default


# --- resumable runs ------------------------------------------------------------------------------


def fingerprint(paths, *, names: bool) -> str:
    """A short hash of the files' bytes, and with `names` of their paths as well (a moved file then counts as
    changed). Part of a run's key: a run whose data changed is done again."""
    digest = hashlib.sha256()
    for path in paths:
        if names:
            digest.update(str(path).encode())
        digest.update(Path(path).read_bytes())
    return digest.hexdigest()[:16]


def key_of(*parts) -> str:
    """A short hash of what decides a run's result (settings, data fingerprint, ...): load_done's `key`."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def load_done(path: Path, key: str, label: str, fresh: bool = False) -> dict | None:
    """The record that save_run wrote to `path`, when its "key" is still `key`: a rerun skips the finished runs
    of an interrupted benchmark. None when the run is to be done: no record, a stale key (settings or data
    changed since) or `fresh`."""
    if fresh or not path.is_file():
        return None
    saved = json.loads(path.read_text())
    if saved.get("key") == key:
        log(f"{label}: done before, reusing {show(path)}")
        return saved
    log(f"{label}: settings or data changed since {show(path)}, rerunning")
    return None


def save_run(path: Path, record: dict) -> dict:
    """Writes a finished run's `record` (with its "key") to `path`, stamped with the time; returns it as written."""
    record = {**record, "finished": time.strftime("%Y-%m-%dT%H:%M:%S")}
    write_json(path, record)
    return record


# --- aggregation ---------------------------------------------------------------------------------


def mean_std(values) -> dict:
    """Mean, sample standard deviation (0 for a single value) and count of the values that are not None; a
    failed or unmeasured run gives None and leaves the others' mean as it is."""
    values = [v for v in values if v is not None]
    if not values:
        return {"mean": None, "std": None, "n": 0}
    return {
        "mean": statistics.fmean(values),
        "std": statistics.stdev(values) if len(values) > 1 else 0.0,
        "n": len(values),
    }


def seeded_options(doc: str, name: str, extra=None) -> tuple[argparse.Namespace, list[int]]:
    """--seeds, --runs and --out (under bench/, named after `name`), and what `extra(parser)` adds,
    parsed; then the working folder becomes the repository, where configs name their data."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    if extra is not None:
        extra(parser)
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated seeds")
    parser.add_argument("--runs", default=str(ROOT / "bench" / f"{name}_runs"), help="folder for the run folders")
    parser.add_argument("--out", default=str(ROOT / "bench" / f"{name}.json"), help="JSON with every number")
    args = parser.parse_args()
    os.chdir(ROOT)
    return args, [int(s) for s in comma_list(args.seeds)]


def report_systems(
    title: str, results: dict[str, dict], metrics: list[str], out: Path, extra: dict, row_name: str = "system"
) -> dict:
    """Mean ± std over runs of each row's metrics (a system, or a test set): a rich table, its
    Markdown (for the README), and a JSON at `out` with every run. results: row -> run key -> {metric: value}."""
    summary = {
        system: {k: mean_std([r[k] for r in runs.values()]) for k in metrics} for system, runs in results.items()
    }
    columns = [row_name, *metrics]
    rows = [
        [system]
        + [
            f"{fmt(c['mean'], '.3f')} ± {fmt(c['std'], '.3f')}" if c["n"] > 1 else fmt(c["mean"], ".3f")
            for c in cells.values()
        ]
        for system, cells in summary.items()
    ]
    print_table(title, columns, rows)
    print(markdown_table(columns, rows))
    write_json(out, {**extra, "runs": results, "summary": summary})
    return summary


# --- tables --------------------------------------------------------------------------------------


def fmt(value, spec: str = ".2f", suffix: str = "") -> str:
    """A table cell: `value` in `spec` with `suffix`, or a dash for a missing value."""
    return "–" if value is None else format(value, spec) + suffix


def console(width: int = 200):
    """A rich console on stdout; into a file or pipe `width` characters wide, so that wide tables do not wrap."""
    from rich.console import Console

    return Console(width=None if sys.stdout.isatty() else width)


def print_table(
    title: str, columns: list[str], rows: list[list[str]], *, left=None, caption: str | None = None, width: int = 200
) -> None:
    """A rich table on stdout: the columns named in `left` (default: the first) left-aligned, the numbers right."""
    from rich.table import Table

    left = columns[:1] if left is None else left
    table = Table(title=title, caption=caption)
    for column in columns:
        table.add_column(column, justify="left" if column in left else "right")
    for row in rows:
        table.add_row(*row)
    console(width).print(table)


def markdown_table(columns: list[str], rows: list[list[str]], *, left=None) -> str:
    """The same table in Markdown (for the README), aligned as print_table aligns it."""
    left = columns[:1] if left is None else left
    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" if c in left else "---:" for c in columns) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)
