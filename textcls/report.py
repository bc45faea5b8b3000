"""A run's report: its pictures as PNG files and one self-contained HTML page that embeds them.

build_report(run_dir) -> RUN/report/report.html, learning_curves.png, and the task's own
pictures of its validation predictions (confusion.png, per_class_f1.png, reliability.png,
word_scores.png for a classifier; see each task's `figures`).
"""

from __future__ import annotations

import base64
import html
from pathlib import Path

from textcls import __version__, plots
from textcls.checkpoint import load_run
from textcls.data import load_datasets, read_examples
from textcls.errors import RunError, TextclsError
from textcls.evaluate import predict_items
from textcls.files import atomic_write
from textcls.run_folder import read_log, run_json

# What a caption says under each picture (a task's own pictures beyond these keep their name).
CAPTIONS = {
    "learning_curves": "Each loss part and each validation metric per epoch.",
    "confusion": "Validation confusions: gold rows against predicted columns.",
    "per_class_f1": "Validation F1 of each class.",
    "reliability": "Confidence against accuracy on validation, in 15 equal-width bins: the closer to the diagonal, "
    "the better the probabilities can be read as chances.",
    "word_scores": "A few validation sentences, each word coloured by its score: "
    "green for the predicted class, red against.",
    "top_confusions": "The most frequent tag confusions on validation.",
}


def build_report(run_dir: str | Path, out: str | Path | None = None, batch_size: int | None = None) -> Path:
    """Draws the report of the run in `run_dir` into `out` (default RUN/report/); returns the page's path."""
    run = load_run(run_dir)
    out = Path(out) if out is not None else run.dir / "report"
    history_path = run.dir / "metrics.jsonl"
    if not history_path.is_file():
        raise RunError(f"{history_path}: not found (the run trained no epoch)")
    history = read_log(run.dir)
    final_path = run.dir / "metrics.json"
    final = run_json(run.dir, "metrics.json") if final_path.is_file() else {}

    figures, notes = {"learning_curves": plots.learning_curves(history)}, []
    try:
        figures.update(validation_figures(run, batch_size))
    except TextclsError as exc:  # e.g. the training data moved: the curves still tell a lot
        notes.append(f"No pictures of validation predictions: {exc}")

    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RunError(f"{out}: cannot create the report folder ({exc.strerror})") from None
    images = {}
    for name, figure in figures.items():
        path = out / f"{name}.png"
        atomic_write(path, lambda p: figure.savefig(p, dpi=100, format="png"))
        plots.pyplot().close(figure)
        images[name] = path.read_bytes()
    page = out / "report.html"
    atomic_write(page, lambda p: p.write_text(render(run, history, final, images, notes), encoding="utf-8"))
    return page


def validation_figures(run, batch_size: int | None) -> dict:
    """The task's pictures of the run's predictions on its validation split (read as training read it:
    its own file, or the same fraction of the training file)."""
    data, task = run.config.data, run.task
    if isinstance(data.valid, str):  # its file alone: no need to read the training set
        valid = read_examples(data.valid, data, task, run.featurizer.tokenizer)
    else:
        valid = load_datasets(run.config, task).valid
    items = run.featurizer.encode(valid)
    predictions = predict_items(
        run.model,
        items,
        task,
        batch_size or run.config.train.eval_batch_size,
        run.device,
        with_tokens=task.token_scores,
    )
    words = [valid.tokens.row(r) for r in range(len(valid))]
    return task.figures(predictions, items, run.labels, words)


def headline(metrics: dict) -> dict[str, float]:
    """The numbers of a metrics section worth a table: its top-level numbers."""
    return {k: v for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


def render(run, history: list[dict], final: dict, images: dict[str, bytes], notes: list[str]) -> str:
    esc = html.escape
    splits = {name: headline(final[name]) for name in ("valid", "test") if isinstance(final.get(name), dict)}
    keys = list(dict.fromkeys(k for values in splits.values() for k in values))
    rows = "".join(
        f"<tr><th>{esc(k)}</th>"
        + "".join(f"<td>{splits[s][k]:.4g}</td>" if k in splits[s] else "<td></td>" for s in splits)
        + "</tr>"
        for k in keys
    )
    table = (
        f"<table class=metrics><tr><th></th>{''.join(f'<th>{s}</th>' for s in splits)}</tr>{rows}</table>"
        if splits
        else "<p>No final metrics yet (metrics.json is written when training ends).</p>"
    )
    about = {
        "task": run.task.name,
        "model": run.config.model.type,
        "loss": run.loss.name,
        "epochs trained": len(history),
        "best epoch": final.get("best_epoch", "?"),
        "monitor": final.get("monitor", run.config.train.monitor),
    }
    facts = "".join(f"<li><b>{esc(k)}</b>: {esc(str(v))}</li>" for k, v in about.items())
    pictures = "".join(
        f"<figure><img alt='{esc(name)}' src='data:image/png;base64,{base64.b64encode(data).decode()}'>"
        f"<figcaption><b>{esc(name)}</b>. {esc(CAPTIONS.get(name, ''))}</figcaption></figure>"
        for name, data in images.items()
    )
    warnings = "".join(f"<p class=note>{esc(n)}</p>" for n in notes)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>textcls report: {esc(run.dir.name)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1150px; color: #222; }}
table.metrics {{ border-collapse: collapse; margin: 1em 0; }}
table.metrics th, table.metrics td {{ border: 1px solid #ccc; padding: 0.25em 0.8em; text-align: right; }}
table.metrics th:first-child {{ text-align: left; }}
figure {{ margin: 2em 0; }} img {{ max-width: 100%; }} figcaption {{ color: #555; font-size: 0.9em; }}
.note {{ background: #fff3cd; padding: 0.5em 1em; }}
</style></head>
<body>
<h1>Run {esc(run.dir.name)}</h1>
<ul>{facts}</ul>
<h2>Final metrics (best checkpoint)</h2>
{table}
{warnings}
<h2>Pictures</h2>
{pictures}
<footer><small>textcls {esc(__version__)}</small></footer>
</body></html>
"""
