"""The training pipeline: CSV -> examples -> vocabulary -> tensors -> model -> objective -> trainer -> run folder.

`train(config)` is what `textcls train` calls; it is usable from Python as it is.
"""

from __future__ import annotations

import difflib
import random
import sys
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from textcls.checkpoint import header_shapes, load_checked, load_training_state, load_weights, save_checkpoint
from textcls.checkpoint_files import INFO, STATE, WEIGHTS, checkpoint_dir, remove_leftovers
from textcls.config import Config, resolve_threads
from textcls.data import Dataset, Datasets, load_datasets, make_tokenizer, resolve_target
from textcls.device import resolve_device
from textcls.distributed import Group, join, leave
from textcls.encoded import IGNORE, Encoded
from textcls.engine.choice import kernel_threads, resolve_engine
from textcls.errors import ConfigError, Interrupted, RunError, first_line
from textcls.evaluate import evaluate_examples, predict_items
from textcls.features import Featurizer, count_words
from textcls.files import check_writable, write_json
from textcls.lexicon_features import read_lexicons
from textcls.losses.objective import Objective, build_objective, plain_objective
from textcls.losses.registry import resolve_loss
from textcls.losses.spec import LossOptions
from textcls.models import build_model
from textcls.models.base import TextModel
from textcls.pretrained import load_pretrained, read_vectors, vocabulary_words
from textcls.resume import resumed_config, trim_log
from textcls.run_folder import (
    FORMAT_VERSION,
    RunFiles,
    RunLock,
    append_log,
    new_run_dir,
    read_run_files,
    run_json,
    save_config,
    save_run_files,
)
from textcls.signals import StopOnSignal
from textcls.streaming import build_entry
from textcls.tasks import Task, task_of
from textcls.token_cache import CacheUnusable, Entry, cache_key, cache_root, cached
from textcls.trainer import STATE_KEYS, NullReporter, Reporter, Stopped, Trainer
from textcls.vocab import Vocabulary


def resolve_monitor(monitor: str, task: Task) -> str:
    """`auto` -> the task's first monitor; any other name must be one the task offers."""
    choices = task.monitors
    if monitor == "auto":
        return choices[0]
    if monitor not in choices:
        close = difflib.get_close_matches(monitor, choices, n=1)
        hint = f"did you mean '{close[0]}'?" if close else f"choose one of: {', '.join(choices)}"
        raise ConfigError(f"train.monitor: '{monitor}' is not a metric of task '{task.name}' ({hint})")
    return monitor


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def build_featurizer(config: Config, task: Task, train: Dataset, extra_words: list[str] = ()) -> Featurizer:
    """The vocabulary and label set of the training rows, with the config's features; `extra_words`
    (not in training) join the vocabulary after its words."""
    tokenizer = make_tokenizer(config.data, task)
    counts = Counter()
    count_words(train.tokens, tokenizer, counts)
    vocab = Vocabulary.from_counts(counts, config.data.min_freq, config.data.max_vocab)
    if extra_words:
        vocab = vocab.extended(extra_words)
    labels = task.label_set(train, config.data.label_column)
    return Featurizer(task, config.model, tokenizer, vocab, labels, read_lexicons(config.model.lexicon_features))


def count_targets(items: Encoded) -> Counter:
    """Training counts of word targets per class, for rationale.pos_weight auto."""
    if items.targets is None:
        return Counter()
    values = items.targets[items.targets != IGNORE]
    return Counter({int(v): int(n) for v, n in enumerate(np.bincount(values)) if n})


@dataclass
class TrainResult:
    run_dir: Path | None  # None in the processes of a torchrun group other than rank 0
    metrics: dict  # {"valid": ..., "test": ...}
    best_epoch: int


def train(
    config: Config | None = None,
    out: str | Path | None = None,
    overwrite: bool = False,
    name: str = "run",
    reporter: Reporter | None = None,
    after_epoch: Callable[[int, dict], None] | None = None,
    resume: str | Path | None = None,
) -> TrainResult:
    """Trains a model as `config` says and writes a run folder; returns its path and final metrics.
    `after_epoch(epoch, record)` is called once each epoch is logged (an exception there stops training).

    `resume`: a run folder to continue from its `last` checkpoint, exactly as it would have gone on
    (see resume.py); `config` is then the run's own when None, and may differ from it only in
    train.epochs (the new total), device and threads. A finished run is left as it is.
    SIGINT and SIGTERM stop training after the current step, saving `last` (errors.Interrupted)."""
    if resume is not None:
        if out is not None or overwrite:
            raise ConfigError("--resume continues a run in its own folder: --out and --overwrite do not apply")
        files = read_run_files(resume)  # (once: the resume below reuses them)
        config = resumed_config(resume, files.config, config)
    elif config is None:
        raise ConfigError("train needs a config (or a run folder to resume)")
    elif config.data.unlabeled:  # rounds of training, each a train() call of its own
        from textcls.self_training import self_train

        return self_train(config, train, out, overwrite, name, reporter, after_epoch)
    threads = torch.get_num_threads()
    torch.set_num_threads(resolve_threads(config.train.threads))
    group = join(resolve_device(config.train.device))  # (under torchrun: one process of several)
    try:
        with StopOnSignal() as stop:
            return _train(
                config,
                out,
                overwrite,
                name,
                reporter if group is None or group.main else None,
                after_epoch,
                group,
                None if resume is None else Path(resume),
                files if resume is not None else None,
                stop,
            )
    finally:
        torch.set_num_threads(threads)  # the caller's setting, as it was
        leave(group)


def _train(
    config: Config,
    out: str | Path | None,
    overwrite: bool,
    name: str,
    reporter: Reporter | None,
    after_epoch: Callable[[int, dict], None] | None,
    group: Group | None,
    resume: Path | None,
    files: RunFiles | None,
    stop: StopOnSignal,
) -> TrainResult:
    seed_everything(config.train.seed)
    device = resolve_device(config.train.device)
    if config.train.hogwild and (config.optim.name not in ("sgd_linear", "adagrad") or device.type != "cpu"):
        raise ConfigError("train.hogwild needs optim.name sgd_linear or adagrad (the compiled engine's) and the CPU")
    if config.train.precision == "fp16" and device.type != "cuda":
        raise ConfigError("train.precision fp16 needs a CUDA device (on the CPU, use bf16)")
    if group is not None and device.type == "cuda" and config.model.sparse:
        (reporter or NullReporter()).note(
            "model.sparse: nccl sums dense gradients only, so embeddings are dense in this run"
        )
        config = config.model_copy(update={"model": config.model.model_copy(update={"sparse": False})})
    if config.train.hogwild and group is not None:
        raise ConfigError("train.hogwild and torchrun's processes are two ways of sharing the work: use one")
    if config.train.checkpoint_every and group is not None:
        raise ConfigError(
            "train.checkpoint_every saves within an epoch, which needs one process training every step "
            "(torchrun's processes save at the end of each epoch)"
        )
    main = group is None or group.main  # the one process that writes the run folder

    with ExitStack() as held:  # (the run folder's lock, released however this ends)
        resumed = None
        if resume is not None:  # the run's files and state first: a run that cannot resume fails before any work
            if main:
                held.callback(RunLock(resume).release)
                remove_leftovers(resume)  # (of a write the crash cut short)
            resumed = Resumed.read(resume, files, group)
        elif main:
            check_writable(out if out is not None else config.output.dir)  # before reading any data
        setup = build(config, device, reporter, resumed)

        # All input is valid: only now is a new run folder created (never before, so bad input
        # cannot leave a half-made run or touch an earlier one).
        run_dir = None  # (stays None in the processes that write nothing)
        if resumed is not None and main:
            run_dir = resume
        elif resumed is None and main:
            run_dir, lock = new_run_dir(out, overwrite, name, config.output.dir)
            held.callback(lock.release)
            save_run_files(
                run_dir,
                config.with_absolute_paths(),
                setup.featurizer,
                {
                    **setup.model_info,
                    "command": sys.argv,
                    "format_version": FORMAT_VERSION,
                    **({"processes": group.world} if group is not None else {}),
                },
            )
        return fit_and_score(config, setup, run_dir, device, group, reporter, after_epoch, stop, resumed)


@dataclass
class Resumed:
    """What a resumed run continues from: its files, and its `last` checkpoint's state, (checked)
    folder, whose weights the model loads, and record: the metrics.jsonl line of the epoch it ended
    (None for one saved within an epoch, or by a version that kept none)."""

    run_dir: Path
    files: RunFiles
    state: dict
    folder: Path
    record: dict | None

    @classmethod
    def read(cls, run_dir: Path, files: RunFiles, group: Group | None) -> "Resumed":
        processes, now = files.info.get("processes", 1), group.world if group is not None else 1
        if processes != now:
            raise RunError(
                f"{run_dir}: trained by {processes} process(es); resume it with as many "
                f"(not {now}): the batches they share would differ"
            )
        folder = checkpoint_dir(run_dir, "last", hashed=(STATE, WEIGHTS, INFO))  # (all read: all hashed, once)
        state = load_training_state(run_dir, folder=folder)
        progress = state.get("progress") if isinstance(state, dict) else None
        missing = sorted(STATE_KEYS - set(state)) if isinstance(state, dict) else ["everything"]
        if missing or not isinstance(progress, dict) or not isinstance(progress.get("epoch"), int):
            raise RunError(
                f"{run_dir}: damaged run folder: the last checkpoint's state.pt does not hold a training state "
                f"(missing or wrong: {', '.join(missing) or 'progress'})"
            )
        info = run_json(run_dir, str(folder.relative_to(run_dir) / INFO))
        record = info.get("record") if isinstance(info, dict) else None
        return cls(run_dir, files, state, folder, record if isinstance(record, dict) else None)


@dataclass
class Setup:
    """Everything a training needs, built from the config and the data (and a resumed run's files)."""

    task: Task
    monitor: str
    datasets: Datasets
    featurizer: Featurizer
    train_items: Encoded
    valid_items: Encoded
    test_items: Encoded | None
    model: TextModel
    objective: Objective
    loss: LossOptions
    engine: str  # torch, or compiled (textcls/engine)
    model_info: dict  # what model.json records of it


def build(config: Config, device: torch.device, reporter: Reporter | None, resumed: Resumed | None) -> Setup:
    """Reads the data, and builds the vocabulary (a resumed run keeps its own), the model (with its
    weights when resumed) and the objective."""
    task = task_of(config)
    monitor = resolve_monitor(config.train.monitor, task)
    if cache_root(config) is not None and resumed is None and uses_cache(config):
        try:
            datasets, featurizer, splits = _cached_data(config, task, reporter)
        except CacheUnusable as exc:
            if config.data.cache != "auto":
                raise
            (reporter or NullReporter()).note(f"{exc}: this run reads its CSVs without it")
        else:
            task.check_monitor(monitor, featurizer.labels)
            return _finish_build(config, task, monitor, device, reporter, datasets, featurizer, splits)
    datasets = load_datasets(config, task)
    vectors, every_word = None, config.model.pretrained_words == "all"
    if config.model.pretrained is not None and every_word:  # every word of the file joins the vocabulary
        vectors = read_vectors(config.model.pretrained, config.model.embedding_dim)
    if resumed is not None:
        files = resumed.files
        featurizer = Featurizer(
            task, config.model, make_tokenizer(config.data, task), files.vocab, files.labels, files.lexicons
        )
    else:
        featurizer = build_featurizer(
            config, task, datasets.train, list(vectors or ())
        )  # (extra words in the file's order)
    if config.model.pretrained is not None and not every_word:  # the vocabulary's words only
        vectors = read_vectors(config.model.pretrained, config.model.embedding_dim, vocabulary_words(featurizer.vocab))
    task.check_monitor(monitor, featurizer.labels)
    encoded = encode_splits(config, datasets, featurizer)
    splits = (encoded["train"], encoded["valid"], encoded["test"])
    return _finish_build(config, task, monitor, device, reporter, datasets, featurizer, splits, vectors, resumed)


def encode_splits(config: Config, datasets: Datasets, featurizer: Featurizer) -> dict[str, Encoded | None]:
    """Each split encoded (test: None without one), after checking the lexicon's labels."""
    for word, target in (datasets.lexicon or {}).items():  # a bad lexicon label names the lexicon, not a row
        resolve_target(target, featurizer.labels, f"{config.data.lexicon}, word '{word}'")
    splits = {"train": datasets.train, "valid": datasets.valid, "test": datasets.test}
    return {name: featurizer.encode_all(d) if d is not None else None for name, d in splits.items()}


def prepare(config: Config, reporter: Reporter | None = None, task: Task | None = None) -> tuple[Entry, bool]:
    """(the token cache's entry for this config's data and settings, whether it was built now):
    what `train` and `tune` build on first use and map afterwards (`textcls prepare`)."""
    root = cache_root(config)
    if root is None:
        raise ConfigError("data.cache is off: there is no token cache to prepare")
    if not uses_cache(config):
        raise ConfigError(
            "runs with model.pretrained or train.faithfulness read their CSVs: the token cache does not serve them"
        )
    task = task or task_of(config)
    entry, built = cached(root, cache_key(config, task), partial(build_entry, config, task))
    (reporter or NullReporter()).note(f"token cache: {'wrote' if built else 'read'} {entry.path}")
    return entry, built


def uses_cache(config: Config) -> bool:
    """Whether a new run of `config` reads its data from the token cache (pretrained vectors add
    words to the vocabulary, faithfulness needs the examples themselves, and row weights are not
    kept there: those read the CSVs)."""
    return config.model.pretrained is None and not config.train.faithfulness and not config.data.weight_column


def _cached_data(config: Config, task: Task, reporter: Reporter | None) -> tuple[Datasets, Featurizer, tuple]:
    """(datasets without their examples, featurizer, encoded splits) from the token cache."""
    entry, _ = prepare(config, reporter, task)
    lexicons = read_lexicons(config.model.lexicon_features)
    featurizer = Featurizer(task, config.model, make_tokenizer(config.data, task), entry.vocab, entry.labels, lexicons)
    datasets = Datasets(None, None, None, "")  # (no examples: evaluation without faithfulness needs none)
    return datasets, featurizer, (entry.splits["train"], entry.splits["valid"], entry.splits["test"])


def _finish_build(
    config: Config,
    task: Task,
    monitor: str,
    device: torch.device,
    reporter: Reporter | None,
    datasets: Datasets,
    featurizer: Featurizer,
    splits: tuple,
    vectors=None,
    resumed: Resumed | None = None,
) -> Setup:
    """The model (pretrained vectors and a resumed run's weights loaded), loss and objective over
    the encoded splits (see `build`)."""
    train_items, valid_items, test_items = splits
    loss = resolve_loss(config.loss, task, len(featurizer.labels))
    outputs = task.num_outputs(loss, len(featurizer.labels))
    log_softmax = loss.log_softmax
    model = build_model(config.model, task, featurizer.num_features, outputs, log_softmax)
    coverage = None
    if vectors is not None:
        coverage, rows = load_pretrained(model.embedding.weight, featurizer.vocab, vectors)
        (reporter or NullReporter()).note(f"{config.model.pretrained}: {coverage}")
        if config.model.freeze_pretrained:
            model.freeze_rows(rows)
    if resumed is not None:
        load_checked(model, resumed.run_dir, resumed.folder, header_shapes(resumed.run_dir, resumed.folder))
    model = model.to(device)
    objective = build_objective(
        config.loss,
        task,
        loss,
        len(featurizer.labels),
        task.label_counts(train_items),
        count_targets(train_items),
        model,
    )
    engine, why = resolve_engine(config, task.per_token, loss.name)
    trained_on = resumed.files.info.get("engine", "torch") if resumed is not None else engine  # (older runs: torch)
    if trained_on != engine:
        raise ConfigError(
            f"--resume {resumed.run_dir}: the run trained on the {trained_on} engine and would go on with the "
            f"{engine} one; add --set train.engine={trained_on}"
        )
    if engine == "torch" and config.train.hogwild and config.train.checkpoint_every:
        raise ConfigError(
            "train.checkpoint_every saves within an epoch, which PyTorch's train.hogwild processes cannot "
            "(they save at the end of each epoch; the compiled engine's Hogwild threads can)"
        )
    if engine == "compiled" or (config.model.type == "bow" and not task.per_token):  # (where the kernel could be)
        (reporter or NullReporter()).note(why)
    model_info = {
        "task": config.task,
        "engine": engine,
        "loss": loss.name,
        "outputs": outputs,
        "log_softmax": log_softmax,
        "num_features": featurizer.num_features,
        "monitor": monitor,
        "rationale_pos_weight": objective.rationale_pos_weight,
        **(
            {"pretrained": {"found": coverage.found, "words": coverage.words, "added": coverage.added}}
            if coverage
            else {}
        ),
    }
    return Setup(
        task,
        monitor,
        datasets,
        featurizer,
        train_items,
        valid_items,
        test_items,
        model,
        objective,
        loss,
        engine,
        model_info,
    )


def fit_and_score(
    config: Config,
    setup: Setup,
    run_dir: Path | None,
    device: torch.device,
    group: Group | None,
    reporter: Reporter | None,
    after_epoch: Callable[[int, dict], None] | None,
    stop: StopOnSignal,
    resumed: Resumed | None,
) -> TrainResult:
    """Trains (from `resumed`'s state, when given), checkpointing then logging each epoch into
    `run_dir` (None: a process that writes nothing), then tunes the task on validation and scores
    the best checkpoint."""
    main = run_dir is not None
    task, monitor, model, featurizer = setup.task, setup.monitor, setup.model, setup.featurizer
    if setup.engine == "compiled":
        from textcls.engine.trainer import CompiledTrainer, kernel_loss  # (numba is loaded only for it)

        counts = task.label_counts(setup.train_items)
        loss = kernel_loss(
            setup.loss,
            counts,
            len(featurizer.labels),
            config.loss.rationale.weight,
            setup.objective.rationale_pos_weight,
        )
        threads = kernel_threads(config)
        trainer = CompiledTrainer(
            model, setup.objective, config.optim, config.train, device, loss, threads, reporter, group
        )
    else:
        trainer = Trainer(
            model,
            setup.objective,
            config.optim,
            config.train,
            device,
            reporter,
            batches=lambda items, shuffler: task.batches(items, config.train, shuffler),
            group=group,
        )
    if resumed is not None:
        try:
            trainer.restore(resumed.state)
        except (
            KeyError,
            TypeError,
            ValueError,
            IndexError,
            RuntimeError,
        ) as exc:  # plain data, but not this run's state
            raise RunError(
                f"{run_dir}: damaged run folder: the last checkpoint's state.pt does not hold this run's "
                f"training state ({type(exc).__name__}: {first_line(exc)})"
            ) from None
        if main:  # the resumed run's folder, as of its last checkpoint (nothing was changed before this point)
            lost = trim_log(run_dir, trainer.progress.epoch, resumed.record)
            if lost:
                (reporter or NullReporter()).note(
                    f"{run_dir / 'metrics.jsonl'}: no line for epoch(s) "
                    f"{', '.join(map(str, lost))}, and no checkpoint keeps theirs: "
                    "the log goes on without them"
                )
            save_config(run_dir, config)  # (train.epochs may have changed)
    reference = {"train": setup.train_items, "valid": setup.valid_items}.get(task.reference_split)
    validation_loss = plain_objective(setup.loss, task, len(featurizer.labels))

    def evaluate(examples, items, final: bool = False) -> dict:
        return evaluate_examples(
            model,
            featurizer,
            examples,
            items,
            config.train.eval_batch_size,
            device,
            validation_loss,
            with_faithfulness=final and config.train.faithfulness,
            reference=None if reference is items else reference,
        )

    def on_epoch(epoch: int, record: dict, improved: bool) -> None:
        if not main:
            return
        # The checkpoint first, keeping the epoch's record: no line is logged before its epoch's
        # weights are on disk, and a crash before the line is written loses nothing (a resume
        # appends it from `last`; see trim_log).
        info = {
            "epoch": epoch,
            "step": trainer.step_count,
            "monitor": monitor,
            "score": record.get(f"valid_{monitor}"),
            "record": record,
        }
        # Only `last` carries the training state: resuming starts there.
        names = (["best"] if improved else []) + (["last"] if config.output.save_last else [])
        if names:
            save_checkpoint(run_dir, names, model, info, trainer.state() if config.output.save_last else None)
        append_log(run_dir, record)
        if after_epoch is not None:
            after_epoch(epoch, record)

    def save_last() -> None:  # within an epoch: on a signal, or every train.checkpoint_every steps
        progress = trainer.progress
        save_checkpoint(
            run_dir,
            ["last"],
            model,
            {"epoch": progress.epoch, "batch": progress.batch, "step": trainer.step_count},
            trainer.state(),
        )

    if main and group is None and config.output.save_last:
        trainer.checkpoint = save_last
        stop.trainer = trainer  # a signal now stops training after the step, saving `last`
    resume_hint = f"continue with `textcls train --resume {run_dir}`"
    try:
        result = trainer.fit(
            setup.train_items, lambda: evaluate(setup.datasets.valid, setup.valid_items), monitor, on_epoch
        )
    except Stopped:
        raise Interrupted(
            stop.signum,
            f"stopped after step {trainer.step_count} (epoch {trainer.progress.epoch} "
            f"complete); `last` is saved: {resume_hint}",
        ) from None
    except Interrupted as exc:  # under torchrun, or a second signal: `last` is the last one saved
        raise Interrupted(exc.signum, f"stopped; the run keeps its last saved checkpoint: {resume_hint}") from None
    finally:
        stop.trainer = None
    if not main:  # the others' work ends with training; rank 0 scores and writes the rest
        return TrainResult(None, {}, result.best_epoch)
    if not result.history and (run_dir / "metrics.json").is_file():
        why = (
            "it stopped early (train.patience)" if trainer.stopped_early else f"it trained its {trainer.epochs} epochs"
        )
        (reporter or NullReporter()).note(
            f"{run_dir}: nothing to do, {why}; pass --set train.epochs=N to train it further"
        )
        return TrainResult(run_dir, run_json(run_dir, "metrics.json"), result.best_epoch)

    model.load_state_dict(load_weights(run_dir, "best"))
    valid_items = setup.valid_items
    tuned = task.tune(
        predict_items(model, valid_items, task, config.train.eval_batch_size, device, with_tokens=False), valid_items
    )
    if tuned:  # e.g. decision thresholds, fixed on validation and used from now on
        write_json(run_dir / "task.json", tuned)
        featurizer.task = task_of(config, tuned)
    final = {
        "best_epoch": result.best_epoch,
        "monitor": monitor,
        "valid": evaluate(setup.datasets.valid, valid_items, final=True),
    }
    if setup.test_items is not None:
        final["test"] = evaluate(setup.datasets.test, setup.test_items, final=True)
    write_json(run_dir / "metrics.json", final)
    return TrainResult(run_dir, final, result.best_epoch)
