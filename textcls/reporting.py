"""The one place that talks to rich: progress while training, tables for people."""

from __future__ import annotations

import json
import sys
import time
import zlib

from rich.console import Console
from rich.markup import escape  # user text and labels are printed as they are, never read as markup
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from textcls.files import finite
from textcls.metrics import flatten

# Training output goes to stderr, so stdout stays free for machine-readable results.
console = Console(stderr=True)
out = Console()


class RichReporter:
    """Progress bar per epoch with the running loss and tokens/s; a line per finished epoch. When
    stderr is not a terminal (a log file, a pipe), no bar, and each line is written whole, never
    wrapped."""

    def __init__(self, console: Console = console):
        self.console = console
        self.progress: Progress | None = None

    def _line(self, text: str) -> None:
        if self.console.is_terminal:
            self.console.print(text)
        else:
            self.console.file.write(text + "\n")
            self.console.file.flush()

    def start_epoch(self, epoch: int, epochs: int, steps: int) -> None:
        if not self.console.is_terminal:
            return
        self.progress = Progress(
            TextColumn(f"epoch {epoch}/{epochs}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]:.4f}"),
            TextColumn("{task.fields[speed]:,.0f} tok/s"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=self.console,
            transient=True,
        )
        self.progress.start()
        self.task = self.progress.add_task("train", total=steps, loss=0.0, speed=0.0)
        self.start = time.perf_counter()

    def step(self, steps: int, loss: float, tokens: int) -> None:
        if self.progress is None:
            return
        speed = tokens / max(time.perf_counter() - self.start, 1e-9)
        self.progress.update(self.task, advance=steps, loss=loss, speed=speed)

    def note(self, text: str) -> None:
        self._line(text)

    def end_epoch(self, record: dict) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None
        headline = ("valid_rationale.word_polarity.auprc",)
        shown = {
            k: v
            for k, v in record.items()
            if isinstance(v, float)
            and (k.startswith("train_") or (k.startswith("valid_") and "." not in k) or k in headline)
        }
        text = "  ".join(f"{k} {v:.4f}" for k, v in shown.items())
        self._line(
            f"epoch {record['epoch']}: {text}  "
            f"({record['seconds']:.1f} s, {record['tokens_per_second'] or 0:,.0f} tok/s)"
        )


class JsonReporter:
    """One JSON object per line on stderr: each finished epoch's record, and notes as {"note": ...}."""

    def _write(self, data: dict) -> None:
        sys.stderr.write(
            json.dumps(finite(data), ensure_ascii=False, allow_nan=False) + "\n"
        )  # as metrics.jsonl: null, never NaN
        sys.stderr.flush()

    def start_epoch(self, epoch: int, epochs: int, steps: int) -> None: ...

    def step(self, steps: int, loss: float, tokens: int) -> None: ...

    def note(self, text: str) -> None:
        self._write({"note": text})

    def end_epoch(self, record: dict) -> None:
        self._write(record)


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    return "-" if value is None else str(value)


def metrics_tables(metrics: dict, labels: list[str], title: str) -> list[Table]:
    """A summary table, per-class scores, and the confusion matrix (top confusions for many classes)."""
    tables = []
    summary = Table(title=title)
    summary.add_column("metric")
    summary.add_column("value", justify="right")
    for key, value in flatten(metrics).items():
        summary.add_row(key, _fmt(value))
    tables.append(summary)
    if "per_class" in metrics:
        per = Table(title="per class")
        for column in ["class", "precision", "recall", "f1", "support"]:
            per.add_column(column, justify="left" if column == "class" else "right")
        for label, row in metrics["per_class"].items():
            per.add_row(escape(label), *(_fmt(row[k]) for k in ["precision", "recall", "f1", "support"]))
        tables.append(per)
    if "confusion" in metrics and len(labels) <= 8:
        confusion = Table(title="confusion")
        confusion.add_column("true \\ predicted")
        for label in labels:
            confusion.add_column(label, justify="right")
        for label, row in zip(labels, metrics["confusion"]):
            confusion.add_row(escape(label), *map(str, row))
        tables.append(confusion)
    elif metrics.get("top_confusions"):
        top = Table(title="top confusions")
        for column in ["true", "predicted", "count"]:
            top.add_column(column)
        for row in metrics["top_confusions"]:
            top.add_row(escape(row["true"]), escape(row["predicted"]), str(row["count"]))
        tables.append(top)
    return tables


def print_metrics(metrics: dict, labels: list[str], title: str, console: Console = out) -> None:
    for table in metrics_tables(metrics, labels, title):
        console.print(table)


def score_style(score: float, scale: float = 3.0) -> str:
    """Green for positive evidence, red for negative, brighter for stronger."""
    strength = min(abs(score) / scale, 1.0)
    level = int(90 + 165 * strength)
    return f"rgb(0,{level},0)" if score > 0 else f"rgb({level},0,0)"


def print_class(
    label: str, probabilities: dict[str, float], tokens: list[str], scores: list[float], console: Console = out
) -> None:
    """A predicted class with the probabilities, then the words coloured by their evidence."""
    shown = "  ".join(f"{k} {v:.3f}" for k, v in probabilities.items())
    console.print(f"[bold]{escape(label)}[/] ({escape(shown)})")
    print_word_scores(tokens, scores, console)


def print_value(value: float, text: str, tokens: list[str], scores: list[float], console: Console = out) -> None:
    """A predicted number beside its text, then the words coloured by their scores."""
    console.print(f"[bold]{value:.4f}[/]  {escape(text)}")
    print_word_scores(tokens, scores, console)


def print_word_scores(tokens: list[str], scores: list[float], console: Console = out) -> None:
    """The words of a sentence, each coloured by its score and followed by it."""
    words = Text()
    for token, s in zip(tokens, scores):
        words.append(token, style=score_style(s))
        words.append(f"({s:+.2f}) ", style="dim")
    console.print(words)


def print_vector(text: str, vector: list[float], console: Console = out, shown: int = 8) -> None:
    """A sentence embedding: its size, norm and first values."""
    norm = sum(v * v for v in vector) ** 0.5
    head = "  ".join(f"{v:+.3f}" for v in vector[:shown])
    console.print(
        f"[bold]{escape(text)}[/]\n  {len(vector)} dimensions, norm {norm:.3f}: "
        f"{head}{' ...' if len(vector) > shown else ''}"
    )


def print_similarities(first: list[str], second: list[str], scores: list[float], console: Console = out) -> None:
    table = Table()
    for column in ["sentence a", "sentence b", "similarity"]:
        table.add_column(column, justify="right" if column == "similarity" else "left")
    for a, b, s in zip(first, second, scores):
        table.add_row(Text(a), Text(b), f"{s:.4f}")
    console.print(table)


def print_labels(text: str, labels: list[str], probabilities: dict[str, float], console: Console = out) -> None:
    """The labels chosen for a sentence (bold), then every label's probability."""
    console.print(f"[bold]{escape(', '.join(labels)) or '(none)'}[/]  {escape(text)}")
    console.print(
        escape("  " + "  ".join(f"{k} {v:.3f}" for k, v in sorted(probabilities.items(), key=lambda kv: -kv[1])))
    )


ENTITY_STYLES = ("bold black on cyan", "bold black on yellow", "bold black on green", "bold black on magenta")


def marked_entities(tokens: list[str], entities: list[dict]) -> Text:
    """The sentence with each entity marked in place, `[Peter Blackburn PER]`, coloured by its type
    (the brackets keep the marks where there is no colour)."""
    line, starts = Text(), {e["start"]: e for e in entities}
    i = 0
    while i < len(tokens):
        if line:
            line.append(" ")
        if i in starts:
            e = starts[i]
            style = ENTITY_STYLES[zlib.crc32(e["type"].encode()) % len(ENTITY_STYLES)]
            line.append(f"[{' '.join(tokens[e['start'] : e['end']])} {e['type']}]", style=style)
            i = e["end"]
        else:
            line.append(tokens[i])
            i += 1
    return line


def print_tags(
    text: str,
    tokens: list[str],
    tags: list[str],
    probabilities: list[float],
    console: Console = out,
    entities: list[dict] | None = None,
) -> None:
    """The sentence with its entities marked (when the tags name entities), then a table of token,
    tag, probability."""
    if entities is not None:
        console.print(marked_entities(tokens, entities), highlight=False)
    table = Table(title=escape(text))
    for column in ["token", "tag", "probability"]:
        table.add_column(column)
    for token, tag, p in zip(tokens, tags, probabilities):
        table.add_row(Text(token), Text(tag), f"{p:.3f}")
    console.print(table)


def print_stats(stats: dict, console: Console = out) -> None:
    table = Table(title=stats["file"])
    table.add_column("")
    table.add_column("value", justify="right")
    for key, value in stats.items():
        if isinstance(value, dict):
            for sub, v in value.items():
                table.add_row(escape(f"{key}.{sub}"), _fmt(v))
        elif key != "file":
            table.add_row(key, _fmt(value))
    console.print(table)


def print_cache(result: dict) -> None:
    """`textcls prepare`: the token cache entry and what it holds."""
    out.print(f"{escape(result['path'])} ({'written now' if result['built'] else 'already there'})", highlight=False)
    table = Table()
    for column in ("split", "rows", "tokens"):
        table.add_column(column, justify="left" if column == "split" else "right")
    for split, counts in result["splits"].items():
        table.add_row(split, f"{counts['rows']:,}", f"{counts['tokens']:,}")
    out.print(table)
    out.print(f"{result['bytes'] / 1e6:,.1f} MB, vocabulary {result['vocabulary']:,} words, {result['labels']} labels")
