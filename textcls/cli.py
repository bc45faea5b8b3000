"""The `textcls` command: parses options, loads the config, calls the library, and turns known
errors into one line and their exit code (1; 130 or 143 for a signal)."""

from __future__ import annotations

import json
import sys
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import Iterator, Optional

import typer

from textcls.errors import Interrupted, TextclsError

# rich_markup_mode=None: click's plain help, which keeps every "[default: ...]" and shows on/off flags as flags.
app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    help="Train, evaluate and explain text classifiers and taggers.",
)


def _version(value: bool) -> None:
    if value:
        from textcls import __version__

        typer.echo(f"textcls {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
):
    """Train, evaluate and explain text classifiers and taggers."""


class Backend(str, Enum):
    auto = "auto"
    numpy = "numpy"
    torch = "torch"
    onnx = "onnx"


BACKEND_HELP = (
    "numpy: a bag of words without torch; torch; onnx: the exported model through onnxruntime; "
    "auto: numpy where the run allows it, else torch."
)
ONNX_HELP = "With --backend onnx: the exported file [default: RUN/export/model.onnx]."


class Quantize(str, Enum):
    none = "none"
    int8 = "int8"


class LogFormat(str, Enum):
    text = "text"
    json = "json"


def to_json(data, indent: int | None = 2) -> str:
    """JSON as it is printed: Unicode kept as it is, floats to 6 decimals, null for NaN."""
    from textcls.files import finite

    return json.dumps(finite(data, 6), indent=indent, ensure_ascii=False, allow_nan=False)


def _device_name(name: str) -> str:
    if name not in ("cpu", "cuda", "auto"):
        raise TextclsError(f"--device must be cpu, cuda or auto, got '{name}'")
    return name


class Format(str, Enum):
    table = "table"
    json = "json"


@contextmanager
def user_errors():
    """Input problems end in one line on stderr and exit code 1 (a signal: its own line and 128 + its
    number), never a traceback."""
    try:
        yield
    except Interrupted as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(code=exc.exit_code)
    except TextclsError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=exc.exit_code)
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        raise typer.Exit(code=130)


@app.command()
def train(
    config: Optional[Path] = typer.Option(
        None,
        "--config",
        "-c",
        help="YAML config file (see configs/); optional with --resume, where it must match the run's.",
    ),
    overrides: list[str] = typer.Option(
        [], "--set", "-s", help="Override a config field, e.g. --set train.epochs=3 (repeatable)."
    ),
    resume: Optional[Path] = typer.Option(
        None,
        "--resume",
        help="Continue this run folder from its last checkpoint, exactly; --set train.epochs=N makes N its new total.",
    ),
    out: Optional[Path] = typer.Option(
        None, "--out", "-o", help="Run folder to write [default: <output.dir: runs>/<config name>-<timestamp>]."
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Allow --out to name a non-empty folder."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar or tables."),
    log_format: LogFormat = typer.Option(
        LogFormat.text,
        "--log-format",
        help="Progress on stderr: text (a bar on a terminal, "
        "plain lines otherwise) or json (one JSON object per epoch).",
    ),
):
    """Train a model from a CSV and a YAML config; write a run folder."""
    from textcls import reporting
    from textcls.config import load_config
    from textcls.train import train as run_training

    with user_errors():
        if config is None and resume is None:
            raise TextclsError("train needs --config FILE (or --resume RUN to continue a run)")
        if config is not None:
            cfg = load_config(config, overrides)
        elif overrides:  # (without them, train() reads the run's own config)
            from textcls.resume import saved_config

            cfg = saved_config(resume, overrides)
        else:
            cfg = None
        reporter = (
            None if quiet else reporting.JsonReporter() if log_format == LogFormat.json else reporting.RichReporter()
        )
        result = run_training(
            cfg, out, overwrite, name=config.stem if config else "run", reporter=reporter, resume=resume
        )
    if result.run_dir is None:  # one of torchrun's processes besides rank 0: rank 0 reports
        return
    if not quiet and log_format == LogFormat.text:
        labels = json.loads((result.run_dir / "labels.json").read_text())
        for split in ("valid", "test"):
            if split in result.metrics:
                reporting.print_metrics(
                    result.metrics[split], labels, f"{split} (best epoch {result.best_epoch})", reporting.console
                )
    typer.echo(str(result.run_dir))


@app.command("eval")
def evaluate(
    run_dir: Path = typer.Argument(..., help="A run folder written by `textcls train`."),
    data: Path = typer.Argument(..., help="Labelled CSV with the columns the run was trained on."),
    fmt: Format = typer.Option(
        Format.table, "--format", "-f", help="table: rich tables; json: metrics as JSON on stdout."
    ),
    json_path: Optional[Path] = typer.Option(None, "--json", help="Also write the metrics as JSON to this file."),
    checkpoint: str = typer.Option("best", help="Which checkpoint to load: best or last."),
    lexicon: Optional[Path] = typer.Option(
        None, help="Score word scores against this lexicon (CSV word,label or word,score) instead of the run's."
    ),
    lexicon_threshold: Optional[float] = typer.Option(
        None, help="With a word,score lexicon: |score| >= this labels a word [default: the run's]."
    ),
    lexicon_words: str = typer.Option(
        "all", help="all, or heldout: only the lexicon words the run withheld from training."
    ),
    faithfulness: bool = typer.Option(
        False, help="Also measure comprehensiveness/sufficiency of the word scores (11 extra passes)."
    ),
    calibration: bool = typer.Option(
        True, help="Apply the temperature fitted on validation (--no-calibration: raw probabilities)."
    ),
    predictions: Optional[Path] = typer.Option(
        None, "--predictions", help="Also write each row's gold label, prediction and probabilities to this CSV."
    ),
    device: str = typer.Option("cpu", "--device", help="cpu, cuda or auto."),
    backend: Backend = typer.Option(Backend.auto, "--backend", help=BACKEND_HELP),
    onnx: Optional[Path] = typer.Option(None, "--onnx", help=ONNX_HELP),
):
    """Score a held-out CSV with a trained run."""
    from textcls import reporting
    from textcls.backends import open_run
    from textcls.files import check_output_file, finite, write_json
    from textcls.predict import evaluate_file

    with user_errors():
        for option, path in (("--json", json_path), ("--predictions", predictions)):
            if path is not None:
                check_output_file(path, option)  # before the scoring, not after it
        torch_for = "--faithfulness runs the model on edited texts" if faithfulness else None
        run = open_run(
            run_dir, checkpoint, backend.value, _device_name(device), calibration, onnx, torch_for, with_loss=True
        )
        if lexicon_words not in ("all", "heldout"):
            raise TextclsError(f"--lexicon-words must be 'all' or 'heldout', got '{lexicon_words}'")
        metrics = evaluate_file(
            run,
            data,
            lexicon=lexicon,
            lexicon_threshold=lexicon_threshold,
            lexicon_words=lexicon_words,
            with_faithfulness=faithfulness,
        )
        if predictions is not None:
            from textcls.predict import write_predictions

            write_predictions(run, data, predictions)
        if json_path:
            write_json(json_path, finite(metrics, 6))  # as printed
    if fmt == Format.json:
        typer.echo(to_json(metrics))
    else:
        reporting.print_metrics(metrics, run.labels, f"{data}")


@app.command()
def export(
    run_dir: Path = typer.Argument(..., help="A run folder written by `textcls train`."),
    fmt: str = typer.Option("onnx", "--format", help="Export format (onnx)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="The file to write [default: RUN/export/model.onnx]."),
    quantize: Quantize = typer.Option(
        Quantize.none, "--quantize", help="int8: also write a dynamically quantised copy (<name>.int8.onnx)."
    ),
    checkpoint: str = typer.Option("best", help="Which checkpoint to load: best or last."),
):
    """Export a run's model to ONNX (ids in, logits and token scores out; see the README's Export section)."""
    from textcls.checkpoint import load_run
    from textcls.export import export_onnx, quantize_int8
    from textcls.files import check_output_file

    with user_errors():
        if fmt != "onnx":
            raise TextclsError(f"--format: only onnx is supported, got '{fmt}'")
        if out is not None:
            check_output_file(out, "--out")
        run = load_run(run_dir, checkpoint, calibrated=False)
        path = export_onnx(run, out)
        typer.echo(str(path))
        if quantize == Quantize.int8:
            typer.echo(str(quantize_int8(path)))


@app.command()
def tune(
    config: Path = typer.Option(
        ..., "--config", "-c", help="YAML config to tune (its tune: section is the search space)."
    ),
    budget: str = typer.Option("60s", "--budget", help="Wall-clock budget of the whole search: 30s, 5m, 1h."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder for best.yaml, trials.csv, study.db and best_run/."),
    trials: Optional[int] = typer.Option(
        None, "--trials", min=1, help="Stop after this many trials (within the budget)."
    ),
    metric: Optional[str] = typer.Option(
        None, "--metric", help="Validation metric to optimise [default: the config's train.monitor]."
    ),
    resume: bool = typer.Option(False, "--resume", help="Continue the search stored in --out/study.db."),
    overrides: list[str] = typer.Option([], "--set", "-s", help="Override a config field (repeatable)."),
):
    """Search hyperparameters on a time budget (Optuna: TPE, median pruning); write the best config and run."""
    from textcls import reporting
    from textcls.config import load_config
    from textcls.tune import parse_budget
    from textcls.tune import tune as run_tune

    def progress(done: int, name: str, best: float) -> None:
        reporting.console.print(f"trial {done} finished; best valid {name} so far {best:.4f}")

    with user_errors():
        seconds = parse_budget(budget)
        cfg = load_config(config, overrides)
        result = run_tune(cfg, seconds, out, trials, metric, resume, progress)
    reporting.console.print(f"best valid {result.metric} {result.best_score:.4f} over {result.trials} trials")
    typer.echo(str(result.best_config))


@app.command()
def report(
    run_dir: Path = typer.Argument(..., help="A run folder written by `textcls train`."),
    out: Optional[Path] = typer.Option(
        None, "--out", "-o", help="Folder for report.html and the pictures [default: RUN/report]."
    ),
):
    """Draw a run's learning curves and its validation predictions: PNG files and one self-contained HTML page."""
    from textcls.report import build_report

    with user_errors():
        page = build_report(run_dir, out)
    typer.echo(str(page))


ENCODING_ADVICE = "give its encoding, e.g. --encoding latin-1"


def _lines(
    texts: list[str], file: Optional[Path], encoding: str = "utf-8", advice: str = ENCODING_ADVICE
) -> Iterator[str]:
    """Sentences from the arguments, then --file, then stdin (when '-' is given, or nothing at all),
    read as they are needed; every line, blank ones included, without its line ending.
    `advice` ends the message about text that is not in `encoding`."""
    from_stdin = "-" in texts or (not texts and file is None)
    yield from (t for t in texts if t != "-")
    if file is not None:
        if not file.is_file():
            raise TextclsError(f"{file}: file not found")
        with open(file, "rb") as lines:
            yield from _decoded_lines(lines, str(file), encoding, advice)
    if from_stdin:
        stdin = getattr(sys.stdin, "buffer", None)  # bytes, so that a bad byte can be located
        if stdin is None:  # a text stream put in its place (already decoded)
            yield from (line.rstrip("\r\n") for line in sys.stdin)
        else:
            yield from _decoded_lines(stdin, "<stdin>", encoding, advice)


def _codec(encoding: str):
    """The codecs.CodecInfo of a text encoding Python knows, else one line saying so."""
    import codecs

    try:
        info = codecs.lookup(encoding)
    except LookupError:
        info = None
    if info is None or not getattr(info, "_is_text_encoding", True):  # not base64, rot13 ...
        raise TextclsError(f"--encoding: unknown text encoding '{encoding}' (e.g. utf-8, latin-1, cp1252, utf-16)")
    return info


# Codecs (by codecs.lookup name) in which every line ending in b"\n" decodes on its own: bytes.decode per line.
LINE_BY_LINE = {"utf-8", "ascii", "iso8859-1", "cp1252"}


def _decoded_lines(lines, source: str, encoding: str, advice: str) -> Iterator[str]:
    """The text lines of a binary stream of byte lines in `encoding`, without their line endings.
    Bytes that are not `encoding` text end in one line naming the source, the line and the byte
    offset (from 0) of the first bad byte. Other encodings than LINE_BY_LINE's go through one
    incremental decoder, whose text is split at "\\n" (UTF-16's newline is not the byte 0x0A)."""
    import itertools

    codec = _codec(encoding)
    decoder = codec.incrementaldecoder()
    done, offset, partial = 0, 0, ""  # text lines given, bytes read, text of a line not yet ended
    try:
        if codec.name in LINE_BY_LINE:
            for raw in lines:
                text = raw.decode(codec.name)
                done, offset = done + 1, offset + len(raw)
                yield text.rstrip("\r\n")
            return
        for raw in itertools.chain(lines, [b""]):  # b"": the end, where the decoder must hold nothing
            text = decoder.decode(raw, final=not raw)
            offset += len(raw)
            *whole, partial = (partial + text).split("\n")
            done += len(whole)
            yield from (line.rstrip("\r") for line in whole)
        if partial:
            yield partial.rstrip("\r")
    except UnicodeDecodeError as exc:  # exc.object: the bytes of a character begun before (held), then raw
        held = len(decoder.getstate()[0])  # (a failed call leaves them held)
        line = done + (partial + exc.object[: exc.start].decode(exc.encoding, "replace")).count("\n") + 1
        raise TextclsError(
            f"{source}, line {line}, byte offset {offset - held + exc.start}: byte "
            f"0x{exc.object[exc.start]:02x} is not {encoding} text ({advice})"
        ) from None


def _chunks(lines: Iterator[str], size: int) -> Iterator[list[str]]:
    chunk = []
    for line in lines:
        chunk.append(line)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


@app.command()
def predict(
    run_dir: Path = typer.Argument(..., help="A run folder written by `textcls train`."),
    texts: Optional[list[str]] = typer.Argument(
        None, help="Sentences to predict; '-' (or nothing) reads lines from stdin."
    ),
    file: Optional[Path] = typer.Option(None, "--file", help="A text file with one sentence per line."),
    encoding: str = typer.Option(
        "utf-8", "--encoding", help="The text encoding of --file and stdin (latin-1, cp1252, utf-16, ...)."
    ),
    fmt: Format = typer.Option(
        Format.table,
        "--format",
        "-f",
        help="table: coloured words; json: one JSON object per line, aligned with the input lines.",
    ),
    batch_size: int = typer.Option(
        8192, min=1, help="Sentences per batch; input is read, predicted and written one batch at a time."
    ),
    checkpoint: str = typer.Option("best", help="Which checkpoint to load: best or last."),
    sort: bool = typer.Option(
        False, "--sort", help="Ranking (or regression): print all results ordered by score, highest first."
    ),
    top_k: Optional[int] = typer.Option(
        None, "--top-k", min=1, help="Classification, multi-label: also list the K most probable classes."
    ),
    calibration: bool = typer.Option(
        True, help="Apply the temperature fitted on validation (--no-calibration: raw probabilities)."
    ),
    csv: Optional[Path] = typer.Option(
        None, "--csv", help="Predict a column of this CSV and write the CSV back with prediction columns."
    ),
    column: str = typer.Option("text", "--column", help="With --csv: the column holding the texts."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="With --csv: the CSV to write [default: stdout]."),
    word_scores: bool = typer.Option(
        False, "--word-scores", help="With --csv: add a word_scores column of word:score pairs."
    ),
    backend: Backend = typer.Option(Backend.auto, "--backend", help=BACKEND_HELP),
    onnx: Optional[Path] = typer.Option(None, "--onnx", help=ONNX_HELP),
    device: str = typer.Option("cpu", "--device", help="cpu, cuda or auto (torch backend)."),
):
    """Predict labels (or tags, values, scores) with each word's score: one result per input line,
    in order (a blank line gives {"line": N, "error": "empty line"})."""
    from textcls.backends import open_run
    from textcls.predict import predict_texts

    with user_errors():
        codec = _codec(encoding)  # an unknown name fails before the model loads
        run = open_run(run_dir, checkpoint, backend.value, _device_name(device), calibration, onnx)
        if csv is not None:
            if codec.name != "utf-8":
                raise TextclsError("--encoding goes with --file and stdin; a --csv file is read as UTF-8")
            return _predict_csv(run, csv, column, out, word_scores, batch_size, texts, file)
        if out is not None or word_scores:
            raise TextclsError("--out and --word-scores go with --csv")
        if sort and run.task.sort_by is None:
            raise TextclsError(
                f"--sort orders by a score; task '{run.task.name}' gives none (ranking and regression do)"
            )
        seen, held = 0, []
        for chunk in _chunks(_lines(list(texts or []), file, encoding), batch_size):
            as_json = fmt == Format.json and not sort  # (sorting reads the results' values)
            results = predict_texts(run, chunk, batch_size, first_line=seen + 1, top_k=top_k, as_json=as_json)
            seen += len(chunk)
            if sort:
                held += results  # all of them are needed before the first can be printed
            else:
                _emit(results, fmt, run.task)
        if not seen:
            raise TextclsError("no text to predict (give sentences, --file, or lines on stdin)")
        if sort:  # blank lines (no score) after the rest, in input order
            key = run.task.sort_by
            _emit(
                sorted((r for r in held if key in r), key=lambda r: -r[key]) + [r for r in held if key not in r],
                fmt,
                run.task,
            )


def _predict_csv(
    run, csv: Path, column: str, out: Optional[Path], word_scores: bool, batch_size: int, texts, file
) -> None:
    from textcls.data import read_csv
    from textcls.files import atomic_write, check_output_file
    from textcls.predict import predict_frame

    if texts or file is not None:
        raise TextclsError("--csv predicts a CSV column: give no sentences or --file beside it")
    if out is not None:
        check_output_file(out, "--out")  # before the predictions, not after them
    frame = predict_frame(run, read_csv(csv, [column]), column, str(csv), word_scores, batch_size)
    if out is None:
        frame.to_csv(sys.stdout, index=False)
    else:
        atomic_write(out, lambda p: frame.to_csv(p, index=False))
        typer.echo(f"{len(frame)} rows with predictions -> {out}", err=True)


def _emit(results: list[dict], fmt: Format, task) -> None:
    if fmt == Format.json:
        import orjson  # JSON Lines at about 1 us a line (the standard library takes over 10)

        lines = (r if isinstance(r, bytes) else orjson.dumps(r) for r in results)  # (some come as their lines)
        sys.stdout.buffer.write(b"".join(line + b"\n" for line in lines))
        sys.stdout.flush()  # each batch's results go out before the next batch is read
    else:
        from textcls import reporting

        for result in results:
            if "error" in result:  # a blank input line keeps its place
                reporting.out.print(f"line {result['line']}: {result['error']}", style="dim", highlight=False)
            else:
                task.show(result, reporting.out)


@app.command()
def serve(
    run_dir: Path = typer.Argument(..., help="A run folder written by `textcls train`."),
    host: str = typer.Option("127.0.0.1", "--host", help="The address to listen on."),
    port: int = typer.Option(8000, "--port", min=0, max=65535, help="The port to listen on."),
    backend: Backend = typer.Option(
        Backend.auto, "--backend", help="numpy, torch or onnx; auto: numpy where the run allows it, else torch."
    ),
    checkpoint: str = typer.Option("best", help="Which checkpoint to load: best or last."),
    max_batch: int = typer.Option(256, "--max-batch", min=1, help="Texts predicted together at most (1: no batching)."),
    max_wait_ms: float = typer.Option(
        2.0, "--max-wait-ms", min=0, help="How long a request waits for others to share its batch."
    ),
    max_texts: int = typer.Option(1_000, "--max-texts", min=1, help="Texts per request at most (413 beyond)."),
    max_chars: int = typer.Option(100_000, "--max-chars", min=1, help="Characters per text at most (413 beyond)."),
):
    """Serve a run over HTTP: POST /predict (JSON), a web page at /, /health, /info, /metrics.
    SIGTERM or Ctrl-C stops it after the requests in flight (exit 0)."""
    from textcls.backends import open_run

    with user_errors():
        try:
            from textcls.serve import Limits, Options
            from textcls.serve import serve as run_server
        except ImportError:
            raise TextclsError("textcls serve needs starlette and uvicorn: pip install 'textcls[serve]'") from None
        run = open_run(run_dir, checkpoint, backend.value)
        options = Options(Limits(max_texts, max_chars), max_batch, max_wait_ms)
        run_server(run, host, port, options)


class VectorFormat(str, Enum):
    npy = "npy"
    jsonl = "jsonl"


@app.command()
def embed(
    run_dir: Path = typer.Argument(..., help="A run folder written by `textcls train`."),
    file: Path = typer.Option(..., "--file", help="A text file with one sentence per line ('-': stdin)."),
    out: Path = typer.Option(..., "--out", "-o", help="Where to write the vectors."),
    fmt: VectorFormat = typer.Option(
        VectorFormat.npy, "--format", "-f", help='npy: one (n, D) float32 array; jsonl: {"text", "embedding"} per line.'
    ),
    batch_size: int = typer.Option(8192, min=1, help="Sentences per batch."),
    checkpoint: str = typer.Option("best", help="Which checkpoint to load: best or last."),
):
    """Write the sentence embedding of every line of a file (blank lines skipped)."""
    import numpy as np

    from textcls.checkpoint import load_run
    from textcls.files import atomic_write, check_output_file
    from textcls.predict import embed_texts

    with user_errors():
        check_output_file(out, "--out")
        run = load_run(run_dir, checkpoint)
        texts = [t for t in _lines([], None if str(file) == "-" else file, advice="save it as UTF-8") if t.strip()]
        if not texts:
            raise TextclsError(f"{file}: no text to embed")
        vectors = embed_texts(run, texts, batch_size)
        if fmt == VectorFormat.npy:

            def write_npy(path: Path) -> None:
                with open(path, "wb") as f:  # a file, not a name: np.save would add ".npy" to the name
                    np.save(f, vectors)

            atomic_write(out, write_npy)
        else:
            import orjson

            rows = (
                orjson.dumps({"text": t, "embedding": v}, option=orjson.OPT_SERIALIZE_NUMPY) + b"\n"
                for t, v in zip(texts, vectors.round(6))
            )
            atomic_write(out, lambda p: p.write_bytes(b"".join(rows)))
    typer.echo(f"{len(texts)} vectors of {vectors.shape[1]} dimensions -> {out}", err=True)


@app.command()
def similarity(
    run_dir: Path = typer.Argument(..., help="A run folder written by `textcls train`."),
    texts: Optional[list[str]] = typer.Argument(None, help="Two sentences to compare."),
    pairs: Optional[Path] = typer.Option(
        None, "--pairs", help="A CSV whose first two columns hold the pairs (with a header row)."
    ),
    fmt: Format = typer.Option(
        Format.table, "--format", "-f", help='table, or json: one {"a", "b", "similarity"} per line.'
    ),
    checkpoint: str = typer.Option("best", help="Which checkpoint to load: best or last."),
):
    """How similar two sentences are (the cosine, or minus the euclidean distance, as the run was trained)."""
    from textcls.checkpoint import load_run
    from textcls.predict import similarities

    with user_errors():
        if pairs is not None:
            from textcls.data import read_csv

            frame = read_csv(pairs, [])
            if frame.shape[1] < 2:
                raise TextclsError(f"{pairs}: needs two columns (the two sentences of each pair)")
            first, second = frame.iloc[:, 0].tolist(), frame.iloc[:, 1].tolist()
            for column, texts_of in zip(frame.columns[:2], (first, second)):
                empty = next((i for i, t in enumerate(texts_of) if not t.strip()), None)
                if empty is not None:
                    raise TextclsError(f"{pairs}, row {empty + 1}, column '{column}': empty text")
        elif texts and len(texts) == 2:
            first, second = [texts[0]], [texts[1]]
        else:
            raise TextclsError("give two sentences, or --pairs FILE")
        run = load_run(run_dir, checkpoint)
        scores = similarities(run, first, second)
    if fmt == Format.json:
        for a, b, s in zip(first, second, scores.tolist()):
            typer.echo(to_json({"a": a, "b": b, "similarity": s}, indent=None))
    else:
        from textcls import reporting

        reporting.print_similarities(first, second, scores.tolist())


@app.command()
def prepare(
    config: Path = typer.Option(..., "--config", "-c", help="YAML config whose data to encode."),
    overrides: list[str] = typer.Option([], "--set", "-s", help="Override a config field (repeatable)."),
    fmt: Format = typer.Option(Format.table, "--format", "-f", help="table or json."),
):
    """Encode the config's data into the token cache (data.cache) ahead of training; say what it holds."""
    from textcls import reporting
    from textcls.config import load_config
    from textcls.token_cache import describe
    from textcls.train import prepare as prepare_cache

    with user_errors():
        entry, built = prepare_cache(load_config(config, overrides))
    result = {"path": str(entry.path), "built": built, **describe(entry)}
    if fmt == Format.json:
        typer.echo(to_json(result))
    else:
        reporting.print_cache(result)


@app.command()
def stats(
    config: Path = typer.Option(..., "--config", "-c", help="YAML config whose columns and lexicon to use."),
    data: Optional[Path] = typer.Argument(None, help="CSV to count [default: the config's data.train]."),
    overrides: list[str] = typer.Option([], "--set", "-s", help="Override a config field (repeatable)."),
    fmt: Format = typer.Option(Format.table, "--format", "-f", help="table or json."),
):
    """Label and word-target counts, and the class weights / pos_weight that auto and balanced would use."""
    from textcls import reporting
    from textcls.config import load_config
    from textcls.stats import dataset_stats

    with user_errors():
        result = dataset_stats(load_config(config, overrides), data)
    if fmt == Format.json:
        typer.echo(to_json(result))
    else:
        reporting.print_stats(result)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
