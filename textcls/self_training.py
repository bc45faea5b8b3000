"""Self-training on unlabelled text of the target domain (`data.unlabeled`, `train.self_training`).

Round 0 trains on the labelled rows alone. Each later round labels the unlabelled texts with the
model before it: a text takes its most probable class, and is kept when that class's probability
is at least `threshold`. With `teacher: lexicon` (two classes) the first round's labels come from a
word lexicon instead (later rounds learn from the model before, which read the lexicon's): a text's
valence is the sum of its tokens' valences after VADER's rules (textcls/lexicon_features.py; the
files of model.lexicon_features, else data.lexicon), its label
the second class when positive and the first when negative, and its confidence VADER's compound
|4 s| / sqrt(16 s^2 + 15) (s on the -1..1 scale), kept from `threshold` on. With `balance`, each
class keeps as many texts as the class with fewest, its most confident ones (a teacher that leans
to one class out of domain would otherwise teach the lean). A new model is then trained from
scratch on the labelled rows plus the kept texts, a kept text's loss counting `weight` against a
labelled row's (through data.weight_column). The last round's model is the run; the run folder's
`self_training/` keeps each round's training file and model, `config.yaml` (the config as given)
and `rounds.json` (each round's pseudo-labels per class and validation metrics).

Classification only, with validation from a file of labelled rows (a split drawn from the training
file would take pseudo-labelled rows into validation).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from textcls.config import Config, SelfTrainingConfig
from textcls.data import read_csv
from textcls.errors import ConfigError, DataError
from textcls.files import write_json

FOLDER = "self_training"  # inside the run folder
WEIGHT_COLUMN = "self_training_weight"  # added to the round's training file when data.weight_column is unset


def check_self_training(config: Config) -> None:
    if config.task != "classification":
        raise ConfigError(
            f"data.unlabeled: self-training labels texts with classes; task '{config.task}' has none to give"
        )
    if config.train.self_training.teacher == "lexicon" and not (config.model.lexicon_features or config.data.lexicon):
        raise ConfigError(
            "train.self_training.teacher lexicon: name the lexicon in model.lexicon_features or data.lexicon"
        )
    if not isinstance(config.data.valid, str):
        raise ConfigError(
            "data.unlabeled: give data.valid as a file of labelled rows (a split drawn from the training "
            "file would take pseudo-labelled rows into validation)"
        )


def read_unlabeled(config: Config) -> list[str]:
    """data.unlabeled's texts: the text column of a CSV (.csv, .csv.gz), else one text per line;
    blank ones dropped."""
    data = config.data
    path = Path(data.unlabeled)
    if path.name.endswith((".csv", ".csv.gz")):
        texts = read_csv(path, [data.text_column], data.delimiter, "data.delimiter")[data.text_column].tolist()
    else:
        if not path.is_file():
            raise DataError(f"{path}: file not found (data.unlabeled)")
        try:
            texts = path.read_text(encoding="utf-8").splitlines()
        except UnicodeDecodeError as exc:
            raise DataError(f"{path}: not UTF-8 text (byte {exc.start}; data.unlabeled)") from None
    texts = [t for t in texts if t.strip()]
    if not texts:
        raise DataError(f"{path}: no text in it (data.unlabeled)")
    return texts


def model_teacher(run, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(labels, confidence) of each text: `run`'s most probable class and its probability."""
    from textcls.predict import predict_texts

    results = predict_texts(run, texts)
    labels = np.array([r["label"] for r in results], dtype=object)
    return labels, np.array([r["probabilities"][r["label"]] for r in results])


def lexicon_teacher(config: Config, texts: list[str], classes: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(labels, confidence) of each text from the lexicon: the sign of its summed valence after the
    rules (the files' mean), and VADER's compound of that sum as the confidence."""
    from textcls.lexicon_features import lexicon_features, read_lexicons
    from textcls.tokenize import Tokenizer, tokenize_column

    if len(classes) != 2:
        raise ConfigError(f"train.self_training.teacher lexicon labels two classes; the labels are {classes}")
    lexicons = read_lexicons(config.model.lexicon_features or [config.data.lexicon])
    tokens = tokenize_column(texts, Tokenizer(lowercase=False))  # (as written: capitals are a rule)
    ruled = lexicon_features(tokens, lexicons)[:, 1 : 2 * len(lexicons) : 2].mean(1)  # (N,)
    valence = np.bincount(tokens.row_of, weights=ruled, minlength=len(texts))  # (R,)
    compound = 4 * valence / np.sqrt(16 * valence**2 + 15)  # VADER's normalisation, on its -4..4 scale
    labels = np.where(compound > 0, classes[1], classes[0]).astype(object)
    return labels, np.abs(compound)


def pseudo_labels(
    labels: np.ndarray, confidence: np.ndarray, texts: list[str], classes: list[str], settings: SelfTrainingConfig
) -> tuple[list[str], list[str]]:
    """The texts labelled confidently enough, and their labels (balanced per class when asked)."""
    kept = (confidence >= settings.threshold) & (confidence > 0)  # (a text without valence says nothing)
    if settings.balance:
        per_class = [np.flatnonzero(kept & (labels == label)) for label in classes]
        n = min(len(rows) for rows in per_class)
        chosen = [rows[np.argsort(-confidence[rows], kind="stable")[:n]] for rows in per_class]
        keep = np.sort(np.concatenate(chosen))
    else:
        keep = np.flatnonzero(kept)
    return [texts[i] for i in keep], labels[keep].tolist()


def write_round_file(config: Config, texts: list[str], labels: list[str], target: Path) -> Config:
    """The labelled training rows (every column kept) and the pseudo-labelled ones, with a weight
    column, written to `target`; returns the round's config, which reads it."""
    import pandas as pd

    data, weight = config.data, config.train.self_training.weight
    labelled = read_csv(data.train, [data.text_column, data.label_column], data.delimiter, "data.delimiter")
    column = data.weight_column or WEIGHT_COLUMN
    if column not in labelled.columns:
        labelled[column] = "1"
    pseudo = pd.DataFrame({data.text_column: texts, data.label_column: labels, column: repr(float(weight))})
    frame = pd.concat([labelled, pseudo], ignore_index=True).fillna("")
    partial = target.with_name(target.name + ".partial")
    frame.to_csv(partial, index=False, sep=data.delimiter)
    partial.replace(target)
    updated = data.model_copy(update={"train": str(target), "weight_column": column, "unlabeled": None})
    return config.model_copy(update={"data": updated})


def self_train(config: Config, train, out, overwrite: bool, name: str, reporter, after_epoch):
    """Trains as the module's docstring says, each round with `train` (textcls.train.train, which
    calls this: the rounds' configs have no data.unlabeled); returns the last round's TrainResult."""
    from textcls.checkpoint import load_run
    from textcls.run_folder import new_run_dir, save_config

    check_self_training(config)
    texts = read_unlabeled(config)  # (bad input fails before any training)
    run_dir, lock = new_run_dir(out, overwrite, name, config.output.dir)
    lock.release()  # (each round's training takes it in turn; the last trains into run_dir itself)
    folder = run_dir / FOLDER
    folder.mkdir(exist_ok=True)
    save_config(folder, config)  # (the config as given: the run's own config.yaml is the last round's)
    settings = config.train.self_training
    plain = config.model_copy(update={"data": config.data.model_copy(update={"unlabeled": None})})
    result = train(plain, out=folder / "round-0", overwrite=True, reporter=reporter)
    rounds = [{"round": 0, "valid": result.metrics.get("valid", {})}]
    write_json(folder / "rounds.json", rounds)
    for r in range(1, settings.rounds + 1):
        teacher = load_run(result.run_dir)
        if settings.teacher == "model" or r > 1:
            given, confidence = model_teacher(teacher, texts)
        else:
            given, confidence = lexicon_teacher(config, texts, teacher.labels)
        kept, labels = pseudo_labels(given, confidence, texts, teacher.labels, settings)
        counts = {label: labels.count(label) for label in sorted(set(labels))}
        if reporter is not None:
            share = ", ".join(f"{n:,} {label}" for label, n in counts.items()) or "none"
            reporter.note(f"self-training round {r}: {len(kept):,} of {len(texts):,} unlabelled texts kept ({share})")
        round_config = write_round_file(plain, kept, labels, folder / f"train-round-{r}.csv")
        last = r == settings.rounds
        target = run_dir if last else folder / f"round-{r}"
        hook = after_epoch if last else None
        result = train(round_config, out=target, overwrite=True, reporter=reporter, after_epoch=hook)
        rounds.append({"round": r, "pseudo_labels": counts, "valid": result.metrics.get("valid", {})})
        write_json(folder / "rounds.json", rounds)
    return result
