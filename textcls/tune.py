"""Hyperparameter search on a wall-clock budget: Optuna's TPE sampler with median pruning on
per-epoch validation scores, over the config's `tune:` section (or a default space per model type).

    tune(config, budget_seconds=60, out="tune/") -> DIR/best.yaml, trials.csv, study.db, best_run/

Each trial trains the config with the trial's values (under DIR/trials/); pruned and finished trials
other than the best are removed, the best one's run folder is kept as DIR/best_run. The budget
bounds the whole search: no trial starts after it, and a running trial stops at its next epoch.
"""

from __future__ import annotations

import csv
import math
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import yaml

from textcls.config import Config, LogRange, Range, apply_overrides, config_from_dict
from textcls.errors import ConfigError, Interrupted, RunError, first_line

UNITS = {"s": 1, "m": 60, "h": 3600}


def parse_budget(text: str) -> float:
    """`30s`, `5m`, `1h`, `1.5h` or a number of seconds -> seconds."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*", text)
    if not match or float(match.group(1)) <= 0:
        raise ConfigError(f"--budget: expected a duration such as 30s, 5m or 1h, got {text!r}")
    return float(match.group(1)) * UNITS[match.group(2) or "s"]


def space_of(config: Config) -> dict[str, Any]:
    space = dict(config.tune) or dict(config.model.tune_space)
    raw = config.to_dict()
    for path in space:  # every name must be a field the config has
        node = raw
        for part in path.split("."):
            if not isinstance(node, dict) or part not in node:
                raise ConfigError(f"tune: '{path}' is not a config field (names are dotted, as --set takes them)")
            node = node[part]
    return space


def suggest(trial, path: str, choice) -> Any:
    if isinstance(choice, LogRange):
        return trial.suggest_float(path, *choice.log, log=True)
    if isinstance(choice, Range):
        low, high = choice.range
        if float(low).is_integer() and float(high).is_integer():
            return trial.suggest_int(path, int(low), int(high))
        return trial.suggest_float(path, low, high)
    return trial.suggest_categorical(path, choice)


def trial_config(config: Config, values: dict[str, Any]) -> Config:
    """The config with a trial's values, validated (a bad combination is an error of that trial)."""
    raw = config.to_dict()
    raw["tune"] = {}
    overrides = [
        f"{path}={yaml.safe_dump(value, default_flow_style=True).strip().removesuffix('...').strip()}"
        for path, value in values.items()
    ]
    return config_from_dict(apply_overrides(raw, overrides), "tune trial")


@dataclass
class TuneResult:
    best_config: Path  # DIR/best.yaml
    best_run: Path  # DIR/best_run
    best_score: float
    metric: str
    trials: int  # finished, pruned and stopped trials together


class OutOfTime(Exception):
    """The budget ran out during a trial."""


def tune(
    config: Config,
    budget_seconds: float,
    out: str | Path,
    trials: int | None = None,
    metric: str | None = None,
    resume: bool = False,
    progress: Callable[[int, str, float], None] | None = None,
) -> TuneResult:
    """Searches `config`'s space for `budget_seconds` (and at most `trials` trials); `progress(trials
    done, metric, best score)` after each finished trial."""
    try:
        import optuna
    except ImportError:
        raise RunError("textcls tune needs optuna: pip install 'textcls[tune]'") from None
    from textcls.files import check_writable
    from textcls.tasks import task_of
    from textcls.train import resolve_monitor, train

    start = time.monotonic()
    deadline = start + budget_seconds
    out = Path(out)
    space = space_of(config)
    metric = resolve_monitor(metric or config.train.monitor, task_of(config))
    maximize = metric != "loss"
    check_writable(out)  # (a file, or a folder that takes none: one line, before any trial)
    if out.exists() and any(out.iterdir()) and not resume:
        raise RunError(f"{out}: not empty (give another --out, or --resume to continue its search)")
    if resume and not (out / "study.db").is_file():
        raise RunError(f"{out}: no study.db to resume")
    out.mkdir(parents=True, exist_ok=True)
    optuna.logging.set_verbosity(optuna.logging.ERROR)  # errors reach the user as one line; trials as progress
    try:
        study = optuna.create_study(
            study_name="textcls",
            storage=f"sqlite:///{out / 'study.db'}",
            load_if_exists=resume,
            direction="maximize" if maximize else "minimize",
            sampler=optuna.samplers.TPESampler(seed=config.train.seed),
            pruner=optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=1),
        )
    except Exception as exc:  # SQLAlchemy's and Optuna's errors about the file: a damaged or foreign study.db
        cause = getattr(exc, "orig", None) or exc  # (the database's own message, without the SQL)
        raise RunError(f"{out / 'study.db'}: cannot open the search's database ({first_line(cause)})") from None

    def objective(trial) -> float:
        values = {path: suggest(trial, path, choice) for path, choice in space.items()}
        cfg = trial_config(config, values)
        best_so_far = [-math.inf if maximize else math.inf]

        def after_epoch(epoch: int, record: dict) -> None:
            score = record.get(f"valid_{metric}")
            if score is not None:
                best_so_far[0] = max(best_so_far[0], score) if maximize else min(best_so_far[0], score)
                trial.report(best_so_far[0], epoch)
                if trial.should_prune():
                    raise optuna.TrialPruned()
            if time.monotonic() > deadline:
                raise OutOfTime()

        run_dir = out / "trials" / f"trial-{trial.number}"
        try:
            result = train(cfg, out=run_dir, overwrite=True, name=f"trial-{trial.number}", after_epoch=after_epoch)
        except (optuna.TrialPruned, OutOfTime):
            shutil.rmtree(run_dir, ignore_errors=True)
            raise optuna.TrialPruned()  # a trial cut short by the budget counts as pruned
        except Interrupted as exc:  # Ctrl-C or SIGTERM: the search stops; the trials finished are in study.db
            shutil.rmtree(run_dir, ignore_errors=True)
            raise Interrupted(
                exc.signum,
                f"tune stopped during trial {trial.number}; the trials finished "
                f"are kept: continue the search with `textcls tune ... --out {out} --resume`",
            ) from None
        score = result.metrics["valid"][metric]
        prior = _best_value(study)
        improved = prior is None or (
            score > prior if maximize else score < prior
        )  # ties: the first one stays best, as Optuna's
        if improved:  # the best so far keeps its run folder, and only it
            for old in (out / "trials").glob("trial-*"):
                if old != run_dir:
                    shutil.rmtree(old, ignore_errors=True)
        else:
            shutil.rmtree(run_dir, ignore_errors=True)
        best = score if improved else prior
        trial.set_user_attr("run", str(run_dir))
        if progress is not None:
            progress(trial.number + 1, metric, best)
        return score

    remaining = deadline - time.monotonic()
    if remaining > 0:
        study.optimize(objective, n_trials=trials, timeout=remaining, catch=(ConfigError,))
    finished = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if not finished:
        raise RunError(f"tune: no trial finished within {budget_seconds:g} s (raise --budget)")
    best = study.best_trial
    best_run = out / "best_run"
    source = Path(best.user_attrs["run"])
    if source.exists():  # (on resume, an earlier search may have kept it as best_run already)
        shutil.rmtree(best_run, ignore_errors=True)
        source.rename(best_run)
    shutil.rmtree(out / "trials", ignore_errors=True)
    best_config = trial_config(config, best.params)
    (out / "best.yaml").write_text(yaml.safe_dump(best_config.to_dict(), sort_keys=False, allow_unicode=True))
    with open(out / "trials.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["number", "state", metric, "seconds", *space])
        for t in study.trials:
            seconds = (
                (t.datetime_complete - t.datetime_start).total_seconds()
                if t.datetime_complete and t.datetime_start
                else ""
            )
            writer.writerow(
                [
                    t.number,
                    t.state.name.lower(),
                    "" if t.value is None else t.value,
                    seconds,
                    *[t.params.get(p, "") for p in space],
                ]
            )
    return TuneResult(out / "best.yaml", best_run, best.value, metric, len(study.trials))


def _best_value(study) -> float | None:
    """The best score of the trials finished before the running one; None before the first."""
    try:
        return study.best_value
    except ValueError:
        return None
