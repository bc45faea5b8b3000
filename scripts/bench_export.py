"""Export benchmark: file size and movie test accuracy of the shipped bag of words as a PyTorch
checkpoint, as ONNX (float) and as dynamically quantised ONNX (int8), beside fastText's .bin and
its quantised .ftz, trained on the same shipped movie split, for each seed.

textcls: configs/sentiment_bow.yaml, `textcls export RUN --quantize int8`; accuracy through
`predict --backend onnx` (the calibrated probabilities' argmax, as predict gives it). fastText
0.9.3: dim 100, 10 epochs, lr 0.1, unigrams (the peer settings of scripts/bench_sentiment.py), then
`quantize(retrain=True, qnorm=True, cutoff=100000)` as its docs suggest, on lower-cased
whitespace tokens; each in a fresh process (see bench_sentiment.py on fastText's memory). Writes
--out (JSON), prints a table and its Markdown.

    python scripts/bench_export.py                 # seeds 0,1,2
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from bench_sentiment import FASTTEXT_ENV, accuracy, in_fresh_process, peer_tokens, read_split

from benchlib import ROOT, fmt, log, markdown_table, mean_std, print_table, seeded_options, write_json

SPLITS = {split: ROOT / "data" / "sentiment" / f"movies_{split}.csv" for split in ("train", "test")}
CONFIG = ROOT / "configs" / "sentiment_bow.yaml"


def mb(path: Path) -> float:
    return path.stat().st_size / 1e6


def run_textcls(seed: int, runs: Path) -> dict:
    from textcls.backends import open_run
    from textcls.checkpoint import load_run
    from textcls.checkpoint_files import checkpoint_dir
    from textcls.config import load_config
    from textcls.export import export_onnx, quantize_int8
    from textcls.predict import predict_texts
    from textcls.train import train

    run_dir = train(load_config(CONFIG, [f"train.seed={seed}"]), out=runs / f"bow-seed{seed}", overwrite=True).run_dir
    texts, gold = read_split(SPLITS["test"])
    run = load_run(run_dir)
    float_path = export_onnx(load_run(run_dir, calibrated=False))
    int8_path = quantize_int8(float_path)
    result = {
        "pytorch checkpoint": {
            "mb": mb(checkpoint_dir(run_dir, "best") / "weights.safetensors"),
            "accuracy": accuracy(gold, [r["label"] for r in predict_texts(run, texts)]),
        }
    }
    for name, path in (("onnx float", float_path), ("onnx int8", int8_path)):
        onnx_run = open_run(run_dir, backend="onnx", onnx=path)
        result[name] = {
            "mb": mb(path),
            "accuracy": accuracy(gold, [r["label"] for r in predict_texts(onnx_run, texts)]),
        }
    return result


def fasttext_sizes(seed: int) -> dict:
    import fasttext

    texts, labels = read_split(SPLITS["train"])
    test, gold = read_split(SPLITS["test"])
    line = lambda t: " ".join(peer_tokens(t))
    predict = lambda model: [
        found[0].removeprefix("__label__") for found in model.predict([line(t) for t in test], k=1)[0]
    ]
    result = {}
    with tempfile.TemporaryDirectory(prefix="bench-export-") as tmp:
        train_file = Path(tmp) / "train.txt"
        train_file.write_text("".join(f"__label__{y} {line(t)}\n" for t, y in zip(texts, labels)), encoding="utf-8")
        model = fasttext.train_supervised(
            str(train_file), dim=100, epoch=10, lr=0.1, wordNgrams=1, thread=2, seed=seed, verbose=0
        )
        model.save_model(str(Path(tmp) / "model.bin"))
        result["fastText .bin"] = {"mb": mb(Path(tmp) / "model.bin"), "accuracy": accuracy(gold, predict(model))}
        model.quantize(input=str(train_file), retrain=True, qnorm=True, cutoff=100_000, thread=2, verbose=0)
        model.save_model(str(Path(tmp) / "model.ftz"))
        result["fastText .ftz"] = {"mb": mb(Path(tmp) / "model.ftz"), "accuracy": accuracy(gold, predict(model))}
    return result


def main() -> None:
    args, seeds = seeded_options(__doc__, "export")
    results: dict[str, dict] = {}
    for seed in seeds:
        log(f"seed {seed}")
        measured = {**run_textcls(seed, Path(args.runs)), **in_fresh_process(FASTTEXT_ENV, fasttext_sizes, seed)}
        for system, values in measured.items():
            results.setdefault(system, {})[seed] = values
    summary = {
        s: {k: mean_std([r[k] for r in runs.values()]) for k in ("mb", "accuracy")} for s, runs in results.items()
    }
    columns = ["model file", "size MB", "movie test accuracy %"]
    rows = [
        [s, fmt(c["mb"]["mean"], ".1f"), f"{100 * c['accuracy']['mean']:.1f} ± {100 * c['accuracy']['std']:.1f}"]
        for s, c in summary.items()
    ]
    print_table(f"Model files and their accuracy (seeds {args.seeds})", columns, rows, left=["model file"])
    print(markdown_table(columns, rows, left=["model file"]))
    write_json(
        Path(args.out), {"config": str(CONFIG.relative_to(ROOT)), "seeds": seeds, "runs": results, "summary": summary}
    )


if __name__ == "__main__":
    main()
