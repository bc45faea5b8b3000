"""Multi-label benchmark on the NRC Emotion Lexicon words (data/emotion/, test words unseen in
training): textcls against a character n-gram logistic regression, the usual linear peer.

Systems:
  textcls            configs/emotion_multilabel.yaml for each seed (the best checkpoint's test metrics,
                     with the per-label thresholds it tuned on validation)
  char TF-IDF + LR   scikit-learn TfidfVectorizer(char_wb, 2-5-grams, sublinear tf) and one
                     LogisticRegression per label (class_weight balanced, C picked on validation
                     micro-F1 from a small grid); per-label thresholds tuned on validation the same way
Metrics as textcls computes them (textcls.metrics.multilabel_metrics): micro and macro F1, subset
accuracy, label-ranking average precision.

Run (from anywhere):
    python scripts/bench_multilabel.py            # seeds 0,1,2
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from benchlib import ROOT, log, report_systems, seeded_options

CONFIG = ROOT / "configs" / "emotion_multilabel.yaml"
METRICS = ["micro_f1", "macro_f1", "subset_accuracy", "lrap"]
C_GRID = [0.3, 1.0, 3.0, 10.0]


def textcls_run(seed: int, runs: Path) -> dict:
    from textcls.config import load_config
    from textcls.train import train

    result = train(load_config(CONFIG, [f"train.seed={seed}"]), out=runs / f"seed{seed}", overwrite=True)
    return {k: result.metrics["test"][k] for k in METRICS}


def char_lr() -> dict:
    import pandas as pd
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    from textcls.metrics import best_f1_threshold, multilabel_metrics

    read = lambda split: pd.read_csv(ROOT / f"data/emotion/nrc_{split}.csv", keep_default_na=False, dtype=str)
    train, valid, test = read("train"), read("valid"), read("test")
    labels = sorted({label for cell in train["emotions"] for label in cell.split("|") if label})
    targets = lambda frame: np.array(
        [[label in cell.split("|") for label in labels] for cell in frame["emotions"]], dtype=int
    )
    vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, lowercase=True)
    x_train = vectorizer.fit_transform(train["word"])
    x_valid, x_test = vectorizer.transform(valid["word"]), vectorizer.transform(test["word"])
    y_train, y_valid, y_test = targets(train), targets(valid), targets(test)

    def fit(C: float):
        models = [
            LogisticRegression(C=C, class_weight="balanced", max_iter=2000).fit(x_train, y_train[:, j])
            for j in range(len(labels))
        ]
        score = lambda x: np.column_stack([m.predict_proba(x)[:, 1] for m in models])
        valid_scores = score(x_valid)
        thresholds = np.array([best_f1_threshold(y_valid[:, j], valid_scores[:, j]) for j in range(len(labels))])
        return multilabel_metrics(y_valid, valid_scores, thresholds, labels)["micro_f1"], score, thresholds

    best = max((fit(C) for C in C_GRID), key=lambda t: t[0])
    metrics = multilabel_metrics(y_test, best[1](x_test), best[2], labels)
    return {k: metrics[k] for k in METRICS}


def main() -> None:
    args, seeds = seeded_options(__doc__, "multilabel")
    log("char TF-IDF + LR")
    results = {"char TF-IDF + logistic regression": {"-": char_lr()}, "textcls": {}}
    for seed in seeds:
        log(f"textcls, seed {seed}")
        results["textcls"][seed] = textcls_run(seed, Path(args.runs))
    report_systems(
        f"NRC emotion words, unseen test words (seeds {','.join(map(str, seeds))})",
        results,
        METRICS,
        Path(args.out),
        {"config": str(CONFIG.relative_to(ROOT)), "seeds": seeds},
    )


if __name__ == "__main__":
    main()
