"""Sentence-embedding benchmark on the Brown genres: textcls's trained encoder against TF-IDF
nearest neighbours and against the same encoder untrained, on the same split.

Every system embeds the test sentences and the training sentences; a test sentence's neighbours
are the training sentences nearest to it. Metrics: recall@1 and recall@5 (a sentence of the same
genre among the 1 or 5 nearest) and 10-NN accuracy (the majority genre of the 10 nearest).

Systems:
  textcls (trained)    configs/genre_embedding.yaml, for each seed (the best checkpoint's test metrics)
  textcls (untrained)  the same featurizer and model, with the weights it starts from (each seed)
  TF-IDF 1-2-grams     scikit-learn TfidfVectorizer (lower-cased, words as the data gives them,
                       sublinear tf), cosine similarity; no training beyond the vocabulary

Run (from anywhere):
    python scripts/bench_embedding.py              # seeds 0,1,2
    python scripts/bench_embedding.py --seeds 0
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from benchlib import ROOT, log, report_systems, seeded_options

CONFIG = ROOT / "configs" / "genre_embedding.yaml"
METRICS = ["recall_at_1", "recall_at_5", "knn_accuracy"]


def trained(seed: int, runs: Path) -> dict:
    from textcls.config import load_config
    from textcls.train import train

    result = train(load_config(CONFIG, [f"train.seed={seed}"]), out=runs / f"seed{seed}", overwrite=True)
    return {k: result.metrics["test"][k] for k in METRICS}


def untrained(seed: int) -> dict:
    """The encoder as training would start it: same vocabulary, same seed, no step taken."""
    import torch

    from textcls.config import load_config
    from textcls.data import load_datasets
    from textcls.evaluate import predict_items
    from textcls.models import build_model
    from textcls.tasks import task_of
    from textcls.tasks.embedding import neighbour_metrics
    from textcls.train import build_featurizer, seed_everything

    config = load_config(CONFIG, [f"train.seed={seed}"])
    data = load_datasets(config, task_of(config))
    featurizer = build_featurizer(config, task_of(config), data.train)
    seed_everything(seed)  # as training seeds it before building the model
    model = build_model(config.model, featurizer.task, featurizer.num_features, 1)
    embed = lambda d: (
        predict_items(
            model, featurizer.encode(d), featurizer.task, 1024, torch.device("cpu"), with_tokens=False
        ).sentence
    )
    train_x, test_x = embed(data.train), embed(data.test)
    return neighbour_metrics(test_x, data.test.labels, train_x, data.train.labels, config.loss.distance, same_set=False)


def tfidf() -> dict:
    import pandas as pd
    from sklearn.feature_extraction.text import TfidfVectorizer

    from textcls.tasks.embedding import KNN, nearest_first, score_neighbours

    read = lambda split: pd.read_csv(ROOT / f"data/genre/brown_genre_{split}.csv.gz", keep_default_na=False, dtype=str)
    train, test = read("train"), read("test")
    vectorizer = TfidfVectorizer(lowercase=True, token_pattern=r"\S+", ngram_range=(1, 2), sublinear_tf=True)
    ref, queries = vectorizer.fit_transform(train["text"]), vectorizer.transform(test["text"])  # rows L2-normalised
    ref_labels, labels = train["genre"].to_numpy(), test["genre"].to_numpy()
    neighbours = []
    for start in range(0, queries.shape[0], 512):
        d = -(queries[start : start + 512] @ ref.T).toarray()  # minus the cosine: nearest first
        neighbours.append(ref_labels[nearest_first(d, KNN)])
    return score_neighbours(np.concatenate(neighbours), labels)


def main() -> None:
    args, seeds = seeded_options(__doc__, "embedding")

    results = {"TF-IDF 1-2-grams": {"-": tfidf()}, "textcls (untrained)": {}, "textcls (trained)": {}}
    for seed in seeds:
        log(f"seed {seed}")
        results["textcls (untrained)"][seed] = untrained(seed)
        results["textcls (trained)"][seed] = trained(seed, Path(args.runs))

    report_systems(
        f"Brown genres, test sentences against the training sentences (seeds {','.join(map(str, seeds))})",
        results,
        METRICS,
        Path(args.out),
        {"config": str(CONFIG.relative_to(ROOT)), "seeds": seeds},
    )


if __name__ == "__main__":
    main()
