"""Speed benchmark: how fast textcls trains, predicts and evaluates, beside fastText and a plain PyTorch loop.

Data: a seeded synthetic sentiment set, 200,000 train / 5,000 valid / 25,000 test sentences times --scale, each
exactly 20 whitespace tokens: Zipf-distributed filler from a 20,000-word vocabulary of made-up words, and one or three
polarity words (200 positive, 200 negative), each preceded with probability 0.35 by a negator (not, never, no, hardly)
that flips it; stray negators before filler words; the label is the majority of the flipped polarities, 5% of labels
flipped. Unigrams cannot tell "not good" from "good ... not" (fastText: about 60%), bigrams can (about 83%).
CSVs (text,label) and fastText files (__label__X text) lie in <work>/data, rebuilt when the settings change. No
tokenisation cache of textcls outlives a run: before every textcls process, whatever the benchmark did not write is
deleted from that folder, and XDG_CACHE_HOME and TEXTCLS_CACHE (the token cache) are fresh, empty folders.

Sections (--sections; one that fails is reported and the others still run), each system --runs times, alternating:
  bow      textcls `train --config configs/sentiment_bow.yaml --set model.embedding_dim=50 --set train.epochs=5
           --set train.patience=null --quiet` (row "textcls": the shipped recipe on the compiled engine, row-wise
           AdaGrad, word dropout 0.1, one thread; "textcls-hogwild": the same on --threads kernel threads sharing
           the weights, train.hogwild=true; "textcls-sgd": fastText's recipe, --set optim.name=sgd_linear
           optim.lr=0.1 model.dropout=0 model.word_dropout=0, on the compiled engine, one thread;
           "textcls-sgd-hogwild": that on --threads hogwild threads; "textcls-sgd-cached": that twice, the
           second run (the row) mapping the token cache the first wrote; "textcls-cached": the shipped recipe
           after an untimed `textcls prepare`, mapping the token cache; "textcls-torchrun": that on 2 torchrun
           processes of one kernel thread each, averaging their weights (its peak RssAnon is not sampled:
           the launcher's would be shown); "textcls-torch": fastText's recipe on
           the PyTorch engine, batches of 64, --threads torch threads) against
           fastText 0.9.3 train_supervised (dim 50, epoch 5, lr 0.1), with
           the same threads, word n-gram order and hash buckets (--threads, --ngrams, --buckets; the config's 2 and
           200,000). textcls s = the whole process's wall time minus the median of 5 `python -c "import torch"`
           (start-up that fastText's figure does not pay), so reading the CSVs, validation every epoch and the final
           scoring are in. fastText s = train_supervised alone (reading its file included), in a fresh process with
           MALLOC_MMAP_THRESHOLD_ set (see scripts/bench_sentiment.py: fastText 0.9.3 leaves most of its input matrix
           as it finds the memory; fresh pages are zeros). tokens/s = whitespace tokens of the train file x epochs / s;
           "x fastText" is the median over rounds of the paired ratio. Also: test accuracy (mean), each process's
           peak RSS (os.wait4) and per million tokens of the train file, its peak RssAnon (sampled every 0.1 s:
           its own memory, without mapped files' pages), and textcls's run folder (bytes of its files) against
           its largest checkpoints/*.safetensors, and the process's seconds outside its epochs (less
           metrics.jsonl's epoch seconds).
  lstm     textcls `train --config configs/sentiment_lstm.yaml` set to the plain loop's recipe (embedding 100, BiLSTM
           128 per direction, attention pooling, dropout 0.5, batch 256, dense Adam lr 0.005, grad clip 5) on the
           first --lstm-train sentences for --lstm-epochs, against that model as a plain PyTorch loop in this process
           over integer ids made before timing (packed sequences). tokens/s: textcls's metrics.jsonl (its training
           loop only) and the plain loop's own timed loop; test accuracy on the first --lstm-test test sentences.
  predict  configs/sentiment_bow.yaml as shipped, trained once on the shipped movie sentences, and fastText trained
           on them with the run's dimension, word n-grams and buckets (a model of the same size); then, over files
           of --predict-sizes movie sentences (x --scale), alternating, whole processes: `textcls predict RUN --file
           F --format json --backend B` for numpy, torch and (with onnxruntime, after `textcls export RUN`) onnx,
           against fastText's predict (its Python module: load the model, predict the file in batches of 8,192
           lines, write a label per line). Sentences/s, the paired ratio to fastText's, peak RSS. Cold start:
           median of 5 `textcls predict RUN "a fine film"` on numpy and torch against fastText's import, load and
           one predict, and `python -c "import torch"`.
  eval     `textcls eval RUN data/sentiment/amazon.csv --format json`, without and with --faithfulness, against
           `textcls predict RUN --file <the same sentences> --format json` (a plain forward pass); whole processes.
Times are medians over --runs; the load average is recorded. Each child's stderr goes to <work>/logs/<name>.log.

Run (from anywhere):
    python scripts/bench_speed.py                                  # everything: scale 1, 3 runs
    python scripts/bench_speed.py --sections bow --scale 10        # 2 M training sentences
    python scripts/bench_speed.py --scale 0.02 --runs 1            # a smoke test
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from importlib.metadata import version
from importlib.util import find_spec
from pathlib import Path

import numpy as np

from benchlib import ROOT, cli_path, comma_list, console, fmt, log, print_table, read_jsonl, write_json

SECTIONS = ["bow", "lstm", "predict", "eval"]
BOW_SYSTEMS = [
    "textcls",
    "textcls-hogwild",
    "textcls-sgd",
    "textcls-sgd-hogwild",
    "textcls-sgd-cached",
    "textcls-cached",
    "textcls-torchrun",
    "textcls-torch",
    "fasttext",
]
LENGTH, VOCAB, POLAR, NEGATORS = 20, 20_000, 200, ["not", "never", "no", "hardly"]
SEGMENTS = [(0, 7), (7, 14), (14, 20)]  # each may hold one polarity slot: [negator] word
NEGATION, DISTRACTOR, NOISE = 0.35, 0.3, 0.05
SIZES = {"train": 200_000, "valid": 5_000, "test": 25_000}
FASTTEXT = {"dim": 50, "epoch": 5, "lr": 0.1}
FASTTEXT_ENV = {"MALLOC_MMAP_THRESHOLD_": "65536"}
SGD_RECIPE = {"optim.name": "sgd_linear", "optim.lr": FASTTEXT["lr"], "model.dropout": 0.0, "model.word_dropout": 0.0}
LSTM = {"embedding_dim": 100, "hidden_dim": 128, "batch_size": 256, "lr": 0.005, "dropout": 0.5, "grad_clip": 5.0}
MOVIES = [ROOT / "data/sentiment" / f"movies_{split}.csv" for split in ("train", "valid", "test")]
AMAZON = ROOT / "data/sentiment/amazon.csv"
TORCH_IMPORT = [sys.executable, "-c", "import torch"]
OURS = {
    "settings.json",
    "amazon.csv",
    "amazon.txt",
    "movies.txt",
    "lstm_train.csv",
    "lstm_test.csv",
    *(f"{split}.{ext}" for split in SIZES for ext in ("csv", "txt")),
}  # what the benchmark writes to <work>/data


def summarize(records: list[dict]) -> dict:
    """Per key: the median over runs (a busy spell on the machine does not move it); accuracies: the mean."""
    summary = {}
    for key in records[0]:
        values = [r[key] for r in records if r[key] is not None]
        summary[key] = (statistics.fmean if "accuracy" in key else statistics.median)(values) if values else None
    return summary


# --- child processes -----------------------------------------------------------------------------


# Peak RSS is inherited through fork: a child forked from this (large) process would report at least this
# process's size. So each command runs under a small launcher (python -S, a few MB), forked from it.
# It also samples the child's RssAnon (its own anonymous memory; mapped files' pages are not in it) every 0.1 s.
LAUNCHER = """import os, sys, time
pid = os.fork()
if pid == 0:
    os.execvp(sys.argv[2], sys.argv[2:])
anon = 0
while True:
    done, status, usage = os.wait4(pid, os.WNOHANG)
    if done:
        break
    try:
        with open(f"/proc/{pid}/status") as f:
            anon = max([anon] + [int(line.split()[1]) for line in f if line.startswith("RssAnon:")])
    except OSError:
        pass
    time.sleep(0.1)
open(sys.argv[1], "w").write(f"{usage.ru_maxrss} {anon}")
sys.exit(os.waitstatus_to_exitcode(status))
"""


def run_child(cmd: list, name: str, args, stdout: Path | None = None, env: dict | None = None) -> dict:
    """Runs `cmd` from the repository root: wall seconds and the child's own peak RSS (MB). Its stderr goes to
    <work>/logs/<name>.log, its stdout to `stdout` (or nowhere)."""
    log_path = args.work / "logs" / f"{name}.log"
    with open(log_path, "a") as err, open(stdout or os.devnull, "w") as out:
        err.write(f"$ {shlex.join(map(str, cmd))}\n")
        err.flush()
        rss_path = args.work / "logs" / f"{name}.rss"
        start = time.perf_counter()
        child = subprocess.run(
            [sys.executable, "-S", "-c", LAUNCHER, str(rss_path), *map(str, cmd)],
            stdout=out,
            stderr=err,
            cwd=ROOT,
            env={**os.environ, **(env or {})},
        )
        seconds = time.perf_counter() - start
    if child.returncode != 0:
        tail = log_path.read_text().strip().splitlines()[-1:]
        raise RuntimeError(f"{name} exited with {child.returncode} ({log_path}): {' '.join(tail)}")
    rss, anon = (int(x) for x in rss_path.read_text().split())
    return {"seconds": seconds, "peak_rss_mb": rss / 1024, "peak_anon_mb": anon / 1024}


def textcls(
    args, argv: list, name: str, stdout: Path | None = None, token_cache: bool = False, processes: int = 1
) -> dict:
    """A textcls process that finds no tokenisation cache: what the benchmark did not write is removed from the
    data folder first, XDG_CACHE_HOME is a fresh, empty folder, and so is the token cache (TEXTCLS_CACHE),
    unless `token_cache` (then the token cache is kept as the previous process left it)."""
    for path in args.data.iterdir():
        if path.name not in OURS:
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    env = {}
    for variable, folder in [("XDG_CACHE_HOME", "xdg-cache"), ("TEXTCLS_CACHE", "token-cache")]:
        env[variable] = str(args.work / folder)
        if folder == "token-cache" and token_cache:
            continue
        shutil.rmtree(args.work / folder, ignore_errors=True)
        (args.work / folder).mkdir()
    command = [Path(sys.executable).with_name("textcls")]
    if processes > 1:  # torchrun's processes on this machine
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", processes]
        command += ["-m", "textcls"]
    return run_child([*command, *argv], name, args, stdout, env)


def torch_import(args) -> dict:
    """Five `python -c "import torch"` processes (medians), measured once per benchmark."""
    if not hasattr(args, "torch_import"):
        args.torch_import = summarize([run_child(TORCH_IMPORT, "import-torch", args) for _ in range(5)])
    return args.torch_import


def train_run(args, argv: list, name: str, token_cache: bool = False, processes: int = 1) -> tuple[Path, dict]:
    out = args.work / "runs" / name
    shutil.rmtree(out, ignore_errors=True)
    argv = ["train", *argv, "--out", out, "--quiet"]
    return out, textcls(args, argv, name, token_cache=token_cache, processes=processes)


def sets(overrides: dict) -> list[str]:
    return [x for key, value in overrides.items() for x in ("--set", f"{key}={value}")]


# --- data ----------------------------------------------------------------------------------------


def zipf(n: int, exponent: float = 1.0) -> np.ndarray:
    weights = 1.0 / np.arange(1, n + 1) ** exponent
    return weights / weights.sum()


def generate(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Token ids (n, LENGTH) into vocabulary() and labels (1 = pos). Ids: neutral, positive, negative, negators."""
    neutral = VOCAB - 2 * POLAR
    tokens = rng.choice(neutral, size=(n, LENGTH), p=zipf(neutral))
    active = np.where((rng.random(n) < 0.5)[:, None], True, np.arange(3) == rng.integers(0, 3, n)[:, None])
    polarity = rng.choice([-1, 1], size=(n, 3))  # what each slot means once negation is applied
    negated = rng.random((n, 3)) < NEGATION
    for s, (lo, hi) in enumerate(SEGMENTS):
        where = lo + rng.integers(1, hi - lo, n)
        surface = polarity[:, s] * np.where(negated[:, s], -1, 1)
        word = neutral + rng.choice(POLAR, n, p=zipf(POLAR, 0.8)) + np.where(surface > 0, 0, POLAR)
        on, off = active[:, s], ~active[:, s]
        tokens[on, where[on]] = word[on]
        flip = on & negated[:, s]
        tokens[flip, where[flip] - 1] = VOCAB + rng.integers(0, len(NEGATORS), flip.sum())
        stray = off & (rng.random(n) < DISTRACTOR)  # a negator before filler: its next word stays filler
        spot = lo + rng.integers(0, hi - lo - 1, n)
        tokens[stray, spot[stray]] = VOCAB + rng.integers(0, len(NEGATORS), stray.sum())
    labels = (polarity * active).sum(1) > 0
    return tokens, labels ^ (rng.random(n) < NOISE)


def vocabulary(seed: int) -> np.ndarray:
    """VOCAB made-up lower-case words in a seeded random order, then the negators."""
    rng, words = np.random.default_rng([seed, 1]), set(NEGATORS)
    while len(words) < VOCAB + len(NEGATORS):
        words.add("".join(chr(97 + c) for c in rng.integers(0, 26, rng.integers(3, 10))))
    words = np.array(sorted(words - set(NEGATORS)), dtype=object)  # sorted: a set's order varies between processes
    return np.concatenate([words[rng.permutation(VOCAB)], np.array(NEGATORS, dtype=object)])


def prepare_data(args) -> dict:
    """The synthetic CSVs and fastText files; reused while their settings are unchanged."""
    sizes = {split: max(10, round(size * args.scale)) for split, size in SIZES.items()}
    settings = {
        "seed": args.seed,
        "sizes": sizes,
        "length": LENGTH,
        "vocab": VOCAB,
        "polar": POLAR,
        "negation": NEGATION,
        "distractor": DISTRACTOR,
        "noise": NOISE,
        "generator": 2,
    }
    stamp = args.data / "settings.json"
    if stamp.is_file() and json.loads(stamp.read_text()) == settings:
        return settings
    log(f"generating {sizes} in {args.data} ...")
    shutil.rmtree(args.data, ignore_errors=True)
    args.data.mkdir(parents=True)
    words, rng = vocabulary(args.seed), np.random.default_rng([args.seed, 2])
    for split, n in sizes.items():
        with open(args.data / f"{split}.csv", "w") as table, open(args.data / f"{split}.txt", "w") as fasttext:
            table.write("text,label\n")
            for start in range(0, n, 100_000):  # in chunks: 2 M sentences need not be in memory at once
                tokens, labels = generate(rng, min(100_000, n - start))
                for row, label in zip(words[tokens].tolist(), np.where(labels, "pos", "neg").tolist()):
                    table.write(f"{' '.join(row)},{label}\n")
                    fasttext.write(f"__label__{label} {' '.join(row)}\n")
    write_json(stamp, settings)
    return settings


# --- bag of words --------------------------------------------------------------------------------


def textcls_bow(
    args,
    recipe: dict | None = None,
    name: str = "bow-textcls",
    token_cache: bool = False,
    prepared: bool = False,
    processes: int = 1,
) -> dict:
    """A training of the bag of words (`prepared`: after `textcls prepare` filled the token cache, untimed)."""
    d = args.data
    argv = [
        "--config",
        "configs/sentiment_bow.yaml",
        *sets(
            {
                "data.train": d / "train.csv",
                "data.valid": d / "valid.csv",
                "data.test": d / "test.csv",
                "model.embedding_dim": FASTTEXT["dim"],
                "model.word_ngrams": args.ngrams,
                "model.buckets": args.buckets,
                "train.epochs": FASTTEXT["epoch"],
                "train.patience": "null",
                **(recipe or {}),
            }
        ),
    ]
    if prepared:
        textcls(args, ["prepare", *argv], f"{name}-prepare")
    out, child = train_run(args, argv, name, token_cache or prepared, processes)
    files = [p for p in out.rglob("*") if p.is_file()]
    epochs = sum(r["seconds"] for r in read_jsonl(out / "metrics.jsonl"))
    return {
        "seconds": child["seconds"] - torch_import(args)["seconds"],
        "epochs_seconds": epochs,
        "outside_epochs_seconds": child["seconds"] - epochs,
        "process_seconds": child["seconds"],
        "test_accuracy": json.loads((out / "metrics.json").read_text())["test"]["accuracy"],
        "peak_rss_mb": child["peak_rss_mb"],
        "peak_anon_mb": child["peak_anon_mb"] if processes == 1 else None,  # (sampled of the launcher alone)
        "run_folder_mb": sum(p.stat().st_size for p in files) / 1e6,
        "weights_mb": max(p.stat().st_size for p in files if p.suffix == ".safetensors") / 1e6,
    }


def textcls_hogwild(args) -> dict:
    """The shipped recipe on --threads kernel threads sharing the weights (train.hogwild), as fastText trains."""
    return textcls_bow(args, {"train.hogwild": "true", "train.threads": args.threads}, "bow-textcls-hogwild")


def textcls_sgd(args) -> dict:
    """fastText's recipe (plain SGD, lr 0.1, no dropout) on the compiled engine, one thread."""
    return textcls_bow(args, SGD_RECIPE, "bow-textcls-sgd")


def textcls_sgd_hogwild(args) -> dict:
    """fastText's recipe on --threads kernel threads sharing the weights (train.hogwild)."""
    return textcls_bow(
        args, {**SGD_RECIPE, "train.hogwild": "true", "train.threads": args.threads}, "bow-textcls-sgd-hogwild"
    )


def textcls_sgd_cached(args) -> dict:
    """fastText's recipe on --threads hogwild threads, twice: the first run fills the token cache, the second
    (timed in the row) maps it; both runs' time outside their epochs is kept."""
    first = textcls_sgd_hogwild(args)
    recipe = {**SGD_RECIPE, "train.hogwild": "true", "train.threads": args.threads}
    second = textcls_bow(args, recipe, "bow-textcls-sgd-cached", token_cache=True)
    return {**second, "first_outside_epochs_seconds": first["outside_epochs_seconds"]}


def textcls_cached(args) -> dict:
    """The shipped recipe, one process, one thread, mapping the token cache `textcls prepare` filled."""
    return textcls_bow(args, None, "bow-textcls-cached", prepared=True)


def textcls_torchrun(args) -> dict:
    """The shipped recipe on 2 torchrun processes of one kernel thread each (averaging their weights every
    train.average_every examples), mapping the token cache `textcls prepare` filled."""
    return textcls_bow(args, None, "bow-textcls-torchrun", prepared=True, processes=2)


def textcls_torch(args) -> dict:
    """fastText's recipe on the PyTorch engine (batches of 64, --threads torch threads)."""
    torch_recipe = {**SGD_RECIPE, "train.engine": "torch", "train.batch_size": 64, "train.threads": args.threads}
    return textcls_bow(args, torch_recipe, "bow-textcls-torch")


def kernel_compile(args) -> dict:
    """Seconds to import the engine and run one update: compiling into an empty numba cache, then
    loading from it (what every later run pays)."""
    code = (
        "import time; start = time.perf_counter(); from textcls.engine.bow import load_kernel; load_kernel(); "
        "print(time.perf_counter() - start)"
    )
    cache = args.work / "numba-cache"
    shutil.rmtree(cache, ignore_errors=True)
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache)}
    seconds = []
    for _ in range(2):
        done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"kernel compile: {done.stderr.strip().splitlines()[-1:]}")
        seconds.append(float(done.stdout.split()[-1]))
    return {"compile_seconds": seconds[0], "load_seconds": seconds[1]}


def warm_kernel() -> None:
    """Fills the engine's own numba cache before any timed run (as any first use does), so that no
    row pays the compile."""
    code = "from textcls.engine.bow import load_kernel; load_kernel()"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"kernel warm-up: {done.stderr.strip().splitlines()[-1:]}")


def fasttext_worker(spec: str) -> None:
    """In a fresh process: train (timed), test, print JSON."""
    import fasttext

    spec = json.loads(spec)
    start = time.perf_counter()
    model = fasttext.train_supervised(spec["train"], **spec["params"], verbose=0)
    seconds = time.perf_counter() - start
    _, precision, _ = model.test(spec["test"])  # one label per line: precision at 1 is accuracy
    print(json.dumps({"seconds": seconds, "test_accuracy": precision}))


def fasttext_bow(args) -> dict:
    params = {**FASTTEXT, "thread": args.threads, "wordNgrams": args.ngrams, "bucket": args.buckets, "seed": args.seed}
    spec = json.dumps({"train": str(args.data / "train.txt"), "test": str(args.data / "test.txt"), "params": params})
    result = args.work / "fasttext.json"
    child = run_child([sys.executable, __file__, "--fasttext-worker", spec], "bow-fasttext", args, result, FASTTEXT_ENV)
    return {
        **json.loads(result.read_text()),
        "peak_rss_mb": child["peak_rss_mb"],
        "peak_anon_mb": child["peak_anon_mb"],
    }


def alternate(args, section: str, systems: dict, *arguments) -> dict:
    """--runs rounds, each running every system once in turn: a busy spell falls on all of them alike."""
    runs = {name: [] for name in systems}
    for i in range(args.runs):
        for name, run in systems.items():
            log(f"{section}: {name} run {i + 1}/{args.runs} ...")
            runs[name].append(run(args, *arguments))
    return runs


def paired_ratio(runs: list[dict], reference: list[dict]) -> float:
    """Median over rounds of tokens/s against the reference's in the same round."""
    return statistics.median(r["tokens_per_second"] / b["tokens_per_second"] for r, b in zip(runs, reference))


def bench_bow(args, data: dict) -> dict:
    if find_spec("fasttext") is None:
        raise RuntimeError('fastText is not installed: pip install -e ".[bench]"')
    tokens = data["sizes"]["train"] * LENGTH  # every sentence is LENGTH whitespace tokens
    systems = {
        "textcls": textcls_bow,
        "textcls-hogwild": textcls_hogwild,
        "textcls-sgd": textcls_sgd,
        "textcls-sgd-hogwild": textcls_sgd_hogwild,
        "textcls-sgd-cached": textcls_sgd_cached,
        "textcls-cached": textcls_cached,
        "textcls-torchrun": textcls_torchrun,
        "textcls-torch": textcls_torch,
        "fasttext": fasttext_bow,
    }
    warm_kernel()
    runs = alternate(args, "bow", {name: systems[name] for name in args.bow_systems})
    for record in (record for records in runs.values() for record in records):
        record["tokens_per_second"] = tokens * FASTTEXT["epoch"] / record["seconds"]
        record["peak_rss_mb_per_m_tokens"] = record["peak_rss_mb"] / (tokens / 1e6)
    summary = {name: summarize(records) for name, records in runs.items()}
    for name in set(summary) - {"fasttext"}:
        summary[name]["folder_over_weights"] = summary[name]["run_folder_mb"] / summary[name]["weights_mb"]
    return {
        "train_tokens": tokens,
        "epochs": FASTTEXT["epoch"],
        "word_ngrams": args.ngrams,
        "buckets": args.buckets,
        "import_torch_seconds": torch_import(args)["seconds"],
        "kernel": kernel_compile(args),
        "runs": runs,
        "summary": summary,
        "sgd_recipe": SGD_RECIPE,
        "over_fasttext": {name: paired_ratio(runs[name], runs["fasttext"]) for name in runs if name != "fasttext"},
        **({"torchrun": torchrun_speedup(runs)} if {"textcls-cached", "textcls-torchrun"} <= set(runs) else {}),
    }


def torchrun_speedup(runs: dict) -> dict:
    """2 torchrun processes against 1 (both mapping the token cache): medians over rounds of the paired
    ratios of whole-process and epoch seconds, and the test accuracy difference (points)."""
    pairs = list(zip(runs["textcls-cached"], runs["textcls-torchrun"]))
    ratio = lambda key: statistics.median(one[key] / two[key] for one, two in pairs)
    accuracy = lambda name: statistics.fmean(r["test_accuracy"] for r in runs[name])
    return {
        "process_speedup": ratio("seconds"),
        "epochs_speedup": ratio("epochs_seconds"),
        "accuracy_points": 100 * (accuracy("textcls-torchrun") - accuracy("textcls-cached")),
    }


# --- LSTM ----------------------------------------------------------------------------------------


def read_ids(path: Path, vocab: dict[str, int] | None = None):
    """Whitespace tokens as ids (0 padding, 1 unknown; a new vocabulary from this file when none is given)."""
    rows = [line.rsplit(",", 1) for line in path.read_text().splitlines()[1:]]
    tokens = [text.split() for text, _ in rows]
    if vocab is None:
        vocab = {w: i for i, w in enumerate(dict.fromkeys(w for t in tokens for w in t), start=2)}
    return [[vocab.get(w, 1) for w in t] for t in tokens], [label == "pos" for _, label in rows], vocab


def plain_lstm(args, train: Path, test: Path) -> dict:
    """The same BiLSTM as a plain PyTorch loop over integer ids: tokens/s of its timed loop, test accuracy."""
    import torch
    from torch import nn
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence, pad_sequence

    class BiLSTM(nn.Module):
        def __init__(self, size: int):
            super().__init__()
            dim, states = LSTM["embedding_dim"], 2 * LSTM["hidden_dim"]
            self.embedding, self.dropout = nn.Embedding(size, dim, padding_idx=0), nn.Dropout(LSTM["dropout"])
            self.lstm = nn.LSTM(dim, LSTM["hidden_dim"], batch_first=True, bidirectional=True)
            self.token_head, self.attention = nn.Linear(states, 1), nn.Linear(states, 1)

        def forward(self, ids, lengths):
            packed = pack_padded_sequence(
                self.dropout(self.embedding(ids)), lengths, batch_first=True, enforce_sorted=False
            )
            states = self.dropout(
                pad_packed_sequence(self.lstm(packed)[0], batch_first=True, total_length=ids.shape[1])[0]
            )
            weights = self.attention(states).squeeze(-1).masked_fill(ids == 0, float("-inf")).softmax(1)
            return (weights * self.token_head(states).squeeze(-1)).sum(1)  # the sentence logit

    def tensors(ids, labels):
        return (
            pad_sequence([torch.tensor(x) for x in ids], batch_first=True),
            torch.tensor([len(x) for x in ids]),
            torch.tensor(labels, dtype=torch.float),
        )

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    ids, labels, vocab = read_ids(train)
    x, lengths, y = tensors(ids, labels)
    model = BiLSTM(len(vocab) + 2)
    optimizer, loss_fn = torch.optim.Adam(model.parameters(), lr=LSTM["lr"]), nn.BCEWithLogitsLoss()
    start = time.perf_counter()
    for _ in range(args.lstm_epochs):
        for batch in torch.randperm(len(y)).split(LSTM["batch_size"]):
            loss = loss_fn(model(x[batch], lengths[batch]), y[batch])
            optimizer.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), LSTM["grad_clip"])
            optimizer.step()
    seconds = time.perf_counter() - start
    model.eval()
    test_x, test_lengths, test_y = tensors(*read_ids(test, vocab)[:2])
    with torch.no_grad():
        logits = torch.cat([model(test_x[b], test_lengths[b]) for b in torch.arange(len(test_y)).split(512)])
    return {
        "tokens_per_second": int(lengths.sum()) * args.lstm_epochs / seconds,
        "seconds": seconds,
        "test_accuracy": ((logits > 0) == test_y.bool()).float().mean().item(),
    }


def textcls_lstm(args, train: Path, test: Path) -> dict:
    out, _ = train_run(
        args,
        [
            "--config",
            "configs/sentiment_lstm.yaml",
            *sets(
                {
                    "data.train": train,
                    "data.valid": args.data / "valid.csv",
                    "data.test": test,
                    "model.embedding_dim": LSTM["embedding_dim"],
                    "model.hidden_dim": LSTM["hidden_dim"],
                    "model.dropout": LSTM["dropout"],
                    "model.pooling": "attention",
                    "model.sparse": "false",
                    "optim.name": "adam",
                    "optim.lr": LSTM["lr"],
                    "optim.schedule": "constant",
                    "optim.grad_clip": LSTM["grad_clip"],
                    "train.batch_size": LSTM["batch_size"],
                    "train.epochs": args.lstm_epochs,
                    "train.patience": "null",
                    "train.threads": args.threads,
                }
            ),
        ],
        "lstm-textcls",
    )
    epochs = read_jsonl(out / "metrics.jsonl")
    seconds = sum(e["seconds"] for e in epochs)
    return {
        "tokens_per_second": sum(e["tokens_per_second"] * e["seconds"] for e in epochs) / seconds,
        "seconds": seconds,
        "test_accuracy": json.loads((out / "metrics.json").read_text())["test"]["accuracy"],
    }


def head_csv(source: Path, target: Path, rows: int) -> int:
    lines = source.read_text().splitlines(keepends=True)[: rows + 1]
    target.write_text("".join(lines))
    return len(lines) - 1


def bench_lstm(args, data: dict) -> dict:
    train, test = args.data / "lstm_train.csv", args.data / "lstm_test.csv"
    sentences = {
        "train": head_csv(args.data / "train.csv", train, args.lstm_train),
        "test": head_csv(args.data / "test.csv", test, args.lstm_test),
    }
    runs = alternate(args, "lstm", {"textcls": textcls_lstm, "plain": plain_lstm}, train, test)
    return {
        "sentences": sentences,
        "epochs": args.lstm_epochs,
        "recipe": LSTM,
        "runs": runs,
        "summary": {name: summarize(records) for name, records in runs.items()},
        "textcls_over_plain": paired_ratio(runs["textcls"], runs["plain"]),
    }


# --- predict and eval ----------------------------------------------------------------------------


def movies_run(args) -> Path:
    """The shipped bag of words, trained once on the shipped movie sentences."""
    if not hasattr(args, "movies_run"):
        log("training configs/sentiment_bow.yaml on the movie sentences ...")
        args.movies_run, _ = train_run(args, ["--config", "configs/sentiment_bow.yaml"], "movies-bow")
    return args.movies_run


def csv_texts(paths: list[Path]) -> list[str]:
    texts = []
    for path in paths:
        with open(path, newline="", encoding="utf-8") as f:
            texts += [" ".join(row["text"].split()) for row in csv.DictReader(f)]
    return [t for t in texts if t]


FASTTEXT_PREDICT = """import itertools, sys, fasttext
model = fasttext.load_model(sys.argv[1])
with open(sys.argv[2], encoding="utf-8") as lines, open(sys.argv[3], "w") as out:
    while batch := [line.rstrip("\\n") for line in itertools.islice(lines, 8192)]:
        out.write("".join(labels[0] + "\\n" for labels in model.predict(batch)[0]))
"""
# (a list: fastText 0.9.3's predict of one string fails under numpy 2)
FASTTEXT_COLD = "import sys, fasttext; print(fasttext.load_model(sys.argv[1]).predict(['a fine film'])[0][0][0])"


def fasttext_movies_model(args, run: Path) -> Path:
    """fastText trained on the movie sentences with the run's dimension, word n-grams and buckets: a
    model of the same size as the run's (its table: the vocabulary and the buckets, that many
    vectors)."""
    import fasttext

    model = run.parent / "movies-fasttext.bin"
    if not model.is_file():
        config = json.loads((run / "model.json").read_text())
        import yaml

        settings = yaml.safe_load((run / "config.yaml").read_text())["model"]
        train = run.parent / "movies-fasttext.txt"
        with open(MOVIES[0], newline="", encoding="utf-8") as f:
            train.write_text(
                "".join(f"__label__{r['label']} {' '.join(r['text'].split())}\n" for r in csv.DictReader(f))
            )
        fasttext.train_supervised(
            str(train),
            dim=settings["embedding_dim"],
            wordNgrams=settings["word_ngrams"],
            bucket=settings["buckets"],
            epoch=5,
            thread=args.threads,
            seed=args.seed,
            verbose=0,
        ).save_model(str(model))
        size = model.stat().st_size / 1e6
        log(f"fastText model for predict: {size:.1f} MB ({config['num_features']:,} rows in textcls's table)")
    return model


def bench_predict(args, data: dict) -> dict:
    """Whole processes over files of --predict-sizes movie sentences (x --scale): textcls predict
    --format json on each backend, and fastText's predict (its Python module, batches of 8,192 lines, a
    label per line); then cold starts (median of 5) against fastText's and `import torch`."""
    import importlib.util

    run, texts = movies_run(args), csv_texts(MOVIES)
    model = fasttext_movies_model(args, run)
    backends = ["numpy", "torch"]
    if importlib.util.find_spec("onnxruntime") is not None:
        textcls(args, ["export", run], "export")
        backends.append("onnx")
    else:
        log("onnxruntime is not installed (pip install -e '.[export]'): no ONNX predict row")
    folder = args.work / "predict"
    folder.mkdir(exist_ok=True)
    result = {"files": {}, "model_mb": {"textcls": None, "fasttext": model.stat().st_size / 1e6}}
    for size in args.predict_sizes:
        n = max(10, round(size * args.scale))
        path = folder / f"movies-{n}.txt"
        path.write_text("".join(texts[i % len(texts)] + "\n" for i in range(n)))
        systems = {
            backend: lambda a, b=backend: textcls(
                a, ["predict", run, "--file", path, "--format", "json", "--backend", b], f"predict-{b}"
            )
            for backend in backends
        }
        systems["fasttext"] = lambda a: run_child(
            [sys.executable, "-c", FASTTEXT_PREDICT, model, path, folder / "fasttext.out"], "predict-fasttext", a
        )
        runs = alternate(args, f"predict {n:,}", systems)
        for records in runs.values():
            for r in records:
                r["sentences_per_second"] = n / r["seconds"]
        result["files"][n] = {
            "summary": {name: summarize(records) for name, records in runs.items()},
            "over_fasttext": {
                name: statistics.median(f["seconds"] / r["seconds"] for r, f in zip(runs[name], runs["fasttext"]))
                for name in runs
            },
        }
    cold = {
        "numpy": lambda a: textcls(a, ["predict", run, "a fine film", "--backend", "numpy"], "predict-one-numpy"),
        "torch": lambda a: textcls(a, ["predict", run, "a fine film", "--backend", "torch"], "predict-one-torch"),
        "fasttext": lambda a: run_child([sys.executable, "-c", FASTTEXT_COLD, model], "predict-one-fasttext", a),
        "import torch": lambda a: run_child(TORCH_IMPORT, "import-torch", a),
    }
    rounds = argparse.Namespace(**{**vars(args), "runs": 5})
    cold_runs = alternate(rounds, "cold predict", cold)
    result["cold"] = {name: summarize(records) for name, records in cold_runs.items()}
    result["cold_over_fasttext"] = {
        name: result["cold"][name]["seconds"] / result["cold"]["fasttext"]["seconds"] for name in cold
    }
    return result


def bench_eval(args, data: dict) -> dict:
    run, texts, csv_file, txt_file = (
        movies_run(args),
        csv_texts([AMAZON]),
        args.data / "amazon.csv",
        args.data / "amazon.txt",
    )
    shutil.copy(AMAZON, csv_file)  # inside the data folder, so that no cache of it outlives a run
    txt_file.write_text("".join(t + "\n" for t in texts))
    commands = {
        "predict --file": ["predict", run, "--file", txt_file, "--format", "json"],
        "eval": ["eval", run, csv_file, "--format", "json"],
        "eval --faithfulness": ["eval", run, csv_file, "--format", "json", "--faithfulness"],
    }
    runs, result = {name: [] for name in commands}, {"sentences": len(texts)}
    for i in range(args.runs):  # alternating, as in the other sections
        for name, argv in list(commands.items()):
            slug = name.replace(" --", "-").replace(" ", "-")
            try:
                runs[name].append(
                    {
                        **textcls(args, argv, slug, args.work / f"{slug}.out"),
                        "faithfulness_measured": name != "predict --file"
                        and "faithfulness" in json.loads((args.work / f"{slug}.out").read_text()),
                    }
                )
            except RuntimeError as exc:
                if name != "eval --faithfulness":
                    raise
                log(f"eval: --faithfulness failed, going on without it: {exc}")  # e.g. a CLI without the flag
                result[name] = {"error": str(exc)}
                del commands[name], runs[name]
    for name, records in runs.items():
        result[name] = {**summarize(records), "faithfulness_measured": records[0]["faithfulness_measured"]}
        result[name]["over_predict"] = result[name]["seconds"] / summarize(runs["predict --file"])["seconds"]
    if "seconds" in result["eval --faithfulness"]:
        result["faithfulness_over_plain"] = result["eval --faithfulness"]["seconds"] / result["eval"]["seconds"]
    return result


# --- tables --------------------------------------------------------------------------------------


def bow_table(r: dict) -> tuple[str, list[str], list[list[str]]]:
    rows = [
        [
            name,
            fmt(x["seconds"]),
            fmt(x.get("epochs_seconds")),
            fmt(x["tokens_per_second"], ",.0f"),
            fmt(r["over_fasttext"].get(name, 1.0), ".3f", "×"),
            fmt(100 * x["test_accuracy"], ".1f"),
            fmt(x["peak_rss_mb"], ".0f"),
            fmt(x.get("peak_anon_mb"), ".0f"),
            fmt(x["peak_rss_mb_per_m_tokens"], ".1f"),
            fmt(x.get("run_folder_mb"), ".1f"),
            fmt(x.get("folder_over_weights"), ".2f", "×"),
            fmt(x.get("outside_epochs_seconds"), ".2f")
            + (f" (first {x['first_outside_epochs_seconds']:.2f})" if "first_outside_epochs_seconds" in x else ""),
        ]
        for name, x in r["summary"].items()
    ]
    return (
        f"Bag of words: {r['train_tokens']:,} train tokens × {r['epochs']} epochs, word n-grams {r['word_ngrams']}, "
        f"{r['buckets']:,} buckets; textcls s = process − import torch ({r['import_torch_seconds']:.2f} s); "
        f"kernel compile {r['kernel']['compile_seconds']:.1f} s, load {r['kernel']['load_seconds']:.2f} s",
        [
            "system",
            "s",
            "epochs s",
            "tokens/s",
            "× fastText",
            "test acc %",
            "peak RSS MB",
            "peak RssAnon MB",
            "MB / M train tokens",
            "run folder MB",
            "folder / weights",
            "s outside epochs",
        ],
        rows,
    )


def lstm_table(r: dict) -> tuple[str, list[str], list[list[str]]]:
    rows = [
        [
            name,
            fmt(x["tokens_per_second"], ",.0f"),
            fmt(r["textcls_over_plain"] if name == "textcls" else 1.0, ".2f", "×"),
            fmt(100 * x["test_accuracy"], ".1f"),
        ]
        for name, x in r["summary"].items()
    ]
    return (
        f"BiLSTM: {r['sentences']['train']:,} train sentences × {r['epochs']} epoch(s), "
        f"test on {r['sentences']['test']:,}",
        ["system", "tokens/s (training loop)", "× plain", "test acc %"],
        rows,
    )


def predict_table(r: dict) -> tuple[str, list[str], list[list[str]]]:
    rows = []
    for n, part in r["files"].items():
        for name, x in part["summary"].items():
            command = (
                f"fastText predict ({n:,} sentences)" if name == "fasttext" else f"--backend {name} ({n:,} sentences)"
            )
            rows.append(
                [command, x, fmt(x["sentences_per_second"], ",.0f"), fmt(part["over_fasttext"][name], ".3f", "×")]
            )
    for name, x in r["cold"].items():
        command = {"import torch": 'python -c "import torch"', "fasttext": "fastText: import, load, one predict"}.get(
            name, f'predict "a fine film" --backend {name} (cold)'
        )
        rows.append([command, x, "", fmt(r["cold_over_fasttext"][name], ".2f", "×")])
    return (
        f"Predict: whole processes, start-up included (medians); fastText's model {r['model_mb']['fasttext']:.1f} MB",
        ["command", "s", "sentences/s", "× fastText (throughput; cold: time)", "peak RSS MB"],
        [[name, fmt(x["seconds"]), rate, ratio, fmt(x["peak_rss_mb"], ".0f")] for name, x, rate, ratio in rows],
    )


def eval_table(r: dict) -> tuple[str, list[str], list[list[str]]]:
    over_eval = {"eval": 1.0, "eval --faithfulness": r.get("faithfulness_over_plain")}
    rows = [
        [
            name,
            fmt(r[name].get("seconds")),
            fmt(r[name].get("over_predict"), ".2f", "×"),
            fmt(over_eval[name], ".2f", "×") if name in over_eval else "",
            r[name].get("error") or ("yes" if r[name]["faithfulness_measured"] else "no"),
        ]
        for name in ("predict --file", "eval", "eval --faithfulness")
    ]
    return (
        f"Eval of amazon.csv ({r['sentences']:,} sentences): whole processes (medians)",
        ["command", "s", "× predict", "× eval", "faithfulness measured"],
        rows,
    )


def print_tables(results: dict) -> None:
    for name, result in results.items():
        if "error" in result:
            console().print(f"[red]{name}: failed: {result['error']}[/red]")
        else:
            print_table(*globals()[f"{name}_table"](result))
            if "torchrun" in result:
                t = result["torchrun"]
                console().print(
                    f"2 torchrun processes against 1 (token cache mapped): {t['process_speedup']:.2f}× faster "
                    f"(whole process), {t['epochs_speedup']:.2f}× (epochs), test accuracy "
                    f"{t['accuracy_points']:+.2f} points"
                )


# --- main ----------------------------------------------------------------------------------------


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sections", default=",".join(SECTIONS), help=f"comma-separated: {', '.join(SECTIONS)} (default: all)"
    )
    parser.add_argument(
        "--scale", type=float, default=1.0, help="multiplies the synthetic set and the predict file (default: 1)"
    )
    parser.add_argument("--runs", type=int, default=3, help="runs per system, alternating (default: 3)")
    parser.add_argument("--seed", type=int, default=0, help="data, fastText and plain-loop seed (default: 0)")
    parser.add_argument(
        "--threads", type=int, default=2, help="threads of textcls, fastText and the plain loop (default: 2)"
    )
    parser.add_argument(
        "--ngrams", type=int, default=2, help="word n-gram order of both bags of words (default: 2, the config's)"
    )
    parser.add_argument(
        "--buckets", type=int, default=200_000, help="n-gram hash buckets of both (default: 200000, the config's)"
    )
    parser.add_argument(
        "--bow-systems",
        default=",".join(BOW_SYSTEMS),
        help=f"bag-of-words rows to run, fasttext always among them (default: {','.join(BOW_SYSTEMS)})",
    )
    parser.add_argument(
        "--predict-sizes",
        default="200000,2000000",
        help="predict: sentences per file, comma-separated, times --scale (default: 200000,2000000)",
    )
    parser.add_argument("--lstm-train", type=int, default=20_000, help="LSTM training sentences (default: 20000)")
    parser.add_argument("--lstm-test", type=int, default=5_000, help="LSTM test sentences (default: 5000)")
    parser.add_argument("--lstm-epochs", type=int, default=1, help="LSTM epochs (default: 1)")
    parser.add_argument("--work", help="work folder (default: bench/speed_data in the repository)")
    parser.add_argument("--out", help="results JSON (default: bench/speed.json in the repository)")
    parser.add_argument("--fasttext-worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.sections = comma_list(args.sections)
    unknown = [s for s in args.sections if s not in SECTIONS]
    if unknown:
        parser.error(f"--sections: unknown {', '.join(unknown)} (choose from {', '.join(SECTIONS)})")
    args.bow_systems = comma_list(args.bow_systems)
    args.predict_sizes = [int(x) for x in comma_list(args.predict_sizes)]
    if "fasttext" not in args.bow_systems or not set(args.bow_systems) <= set(BOW_SYSTEMS):
        parser.error(f"--bow-systems: a comma-separated choice of {', '.join(BOW_SYSTEMS)}, with fasttext among them")
    if args.runs < 1 or args.scale <= 0:
        parser.error("--runs must be at least 1 and --scale above 0")
    args.work = cli_path(args.work, "bench/speed_data")
    args.out = cli_path(args.out, "bench/speed.json")
    args.data = args.work / "data"
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.fasttext_worker:
        fasttext_worker(args.fasttext_worker)
        return 0
    shutil.rmtree(args.work / "logs", ignore_errors=True)  # the logs of this benchmark only
    (args.work / "logs").mkdir(parents=True)
    data = prepare_data(args)
    results = {}
    for name in args.sections:
        load = os.getloadavg()[0]
        try:
            results[name] = globals()[f"bench_{name}"](args, data)
        except Exception as exc:  # one failing section is reported; the others still run
            log(f"{name}: FAILED: {type(exc).__name__}: {exc}")
            results[name] = {"error": f"{type(exc).__name__}: {exc}"}
        results[name]["load_1min"] = [load, os.getloadavg()[0]]
    print_tables(results)
    write_json(
        args.out,
        {
            "what": "textcls speed: training beside fastText and a plain PyTorch loop, predict, eval",
            "command": sys.argv,
            "scale": args.scale,
            "runs": args.runs,
            "seed": args.seed,
            "threads": args.threads,
            "data": data,
            "cpus": os.cpu_count(),
            "versions": {
                "python": platform.python_version(),
                **{p: version(p) for p in ("torch", "numpy", "fasttext") if find_spec(p)},
            },
            "sections": results,
        },
    )
    log(f"wrote {args.out}")
    return 1 if any("error" in r for r in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
