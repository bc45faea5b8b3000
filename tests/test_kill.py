"""Kill -9 at random moments, again and again: the run folder survives every kill, and the chain
of resumes ends in exactly the run that was never killed.

Each training runs in a real process, killed with SIGKILL (no handler, no cleanup: as a crash or
an out-of-memory kill). To keep 20+ kills fast, the processes are forked from one that has already
imported textcls (a "zygote"): a fork starts in milliseconds where a new interpreter takes seconds.
Two kills are not left to chance: they come in the one window the order of writes leaves, after an
epoch's checkpoint is saved and before its line is logged (the child kills itself there).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file

from conftest import NEGATIVE, POSITIVE, _write_splits, checkpoint_weights, small_config_dict

pytestmark = pytest.mark.skipif(
    not hasattr(os, "fork") or not Path("/proc/self/fd").is_dir(), reason="needs fork and /proc (Linux)"
)

KILLS = 24
EPOCHS = 40

ZYGOTE = textwrap.dedent("""
    import json, os, signal, sys
    import textcls.cli, textcls.train  # imported once; each training is a fork of this process
    import torch._dynamo  # (what building the first optimiser imports: two seconds)
    import numpy as np
    from textcls.engine.bow import load_kernel
    load_kernel()  # the compiled kernel, loaded from numba's cache once

    def die_after_checkpoint(epoch):
        # This process kills itself (-9) once the checkpoint of epoch `epoch`'s end is saved.
        save = textcls.train.save_checkpoint
        def save_then_die(run_dir, names, model, info, state=None):
            save(run_dir, names, model, info, state)
            if info["epoch"] == epoch and "batch" not in info:
                os.kill(os.getpid(), signal.SIGKILL)
        textcls.train.save_checkpoint = save_then_die

    for line in sys.stdin:
        args, epoch = json.loads(line)
        pid = os.fork()
        if pid == 0:
            if epoch is not None:
                die_after_checkpoint(epoch)
            devnull = os.open(os.devnull, os.O_RDWR)
            for fd in (0, 1, 2):
                os.dup2(devnull, fd)
            try:
                textcls.cli.app(args)
            except SystemExit as exc:
                os._exit(exc.code if isinstance(exc.code, int) else 1)
            os._exit(0)
        print(pid, flush=True)
        _, status = os.waitpid(pid, 0)
        print(os.waitstatus_to_exitcode(status), flush=True)
""")


class Zygote:
    def __init__(self):
        self.process = subprocess.Popen(
            [sys.executable, "-c", ZYGOTE],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=Path(__file__).parent,
        )

    def start(self, *args: str, die_after_checkpoint: int | None = None) -> int:
        """Starts `textcls ARGS` in a fork; with `die_after_checkpoint`, it kills itself right after
        saving that epoch's checkpoint."""
        self.process.stdin.write(json.dumps([[str(a) for a in args], die_after_checkpoint]) + "\n")
        self.process.stdin.flush()
        return int(self.process.stdout.readline())

    def wait(self) -> int:
        return int(self.process.stdout.readline())

    def run(self, *args: str, die_after_checkpoint: int | None = None) -> int:
        self.start(*args, die_after_checkpoint=die_after_checkpoint)
        return self.wait()

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=30)


def wait_for_lock(pid: int, lock: Path, timeout: float = 60) -> None:
    """Until process `pid` holds the run folder's lock (it has the file open), or has ended."""
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        try:
            if any(os.readlink(f"/proc/{pid}/fd/{fd}") == str(lock) for fd in os.listdir(f"/proc/{pid}/fd")):
                return
        except (FileNotFoundError, ProcessLookupError, PermissionError):  # (it ended, or an fd closed meanwhile)
            return
        time.sleep(0.005)


def log_epochs(run: Path) -> list[int]:
    return [json.loads(line)["epoch"] for line in (run / "metrics.jsonl").read_text().splitlines()]


def log_without_timings(run: Path) -> list[dict]:
    return [
        {k: v for k, v in json.loads(line).items() if k not in ("seconds", "tokens_per_second")}
        for line in (run / "metrics.jsonl").read_text().splitlines()
    ]


def check_survivor(run: Path, valid_csv: Path) -> int | None:
    """After a kill: the run loads, and its best checkpoint's epoch and score are those of its
    weights (re-evaluated here). Returns last's step, or None before the first checkpoint."""
    from textcls.checkpoint import load_run
    from textcls.checkpoint_files import checkpoint_info
    from textcls.predict import evaluate_file

    index = run / "checkpoints" / "index.json"
    if not index.is_file():
        return None
    best = checkpoint_info(run, "best")
    run_loaded = load_run(run, "best", calibrated=False)
    assert evaluate_file(run_loaded, valid_csv)["accuracy"] == best["score"]
    logged = {}
    for line in (run / "metrics.jsonl").read_text().splitlines() if (run / "metrics.jsonl").is_file() else []:
        try:
            logged[json.loads(line)["epoch"]] = json.loads(line)
        except json.JSONDecodeError:  # the last line may be cut short by the kill
            pass
    last = checkpoint_info(run, "last")
    assert all(epoch <= last["epoch"] for epoch in logged)  # no epoch is logged before its checkpoint
    if last["epoch"] not in logged and "batch" not in last:  # killed before its line: the checkpoint keeps it
        logged[last["epoch"]] = last["record"]
    assert logged[best["epoch"]]["valid_accuracy"] == best["score"]
    return last["step"]


def kill_between_checkpoint_and_line(zygote: Zygote, args: list, run: Path, epoch: int, valid_csv: Path) -> None:
    """Trains (`args`) until epoch `epoch`'s checkpoint is saved, killed (-9) before its line is
    logged: that epoch has no line, and the run folder loads with `textcls eval`."""
    from textcls.checkpoint_files import checkpoint_info

    assert zygote.run("train", *args, "-q", die_after_checkpoint=epoch) == -signal.SIGKILL
    last, best = checkpoint_info(run, "last"), checkpoint_info(run, "best")
    assert last["epoch"] == epoch and "batch" not in last
    assert best["epoch"] <= epoch
    assert (log_epochs(run) if (run / "metrics.jsonl").is_file() else []) == list(range(1, epoch))
    scored = run.parent / f"eval-{epoch}.json"
    assert zygote.run("eval", run, valid_csv, "--json", scored) == 0
    assert json.loads(scored.read_text())["accuracy"] == round(best["score"], 6)
    check_survivor(run, valid_csv)


# engine -> (kills, epochs, the longest wait before a kill in s, the sections it trains with): dropout
# and a decaying rate, which must resume exactly. The compiled engine's epochs take milliseconds.
ENGINES = {
    "torch": (
        KILLS,
        2 * EPOCHS,  # (a run whose start is quick trains 40 such epochs within the first half of the kills)
        0.8,
        {
            "model": {"type": "lstm", "embedding_dim": 8, "hidden_dim": 8, "dropout": 0.3},
            "optim": {"name": "adamw", "lr": 0.01, "schedule": "linear"},
        },
    ),
    "compiled": (
        KILLS // 2,
        2 * EPOCHS,
        0.8,
        {
            "model": {"type": "bow", "embedding_dim": 8, "dropout": 0.3, "word_dropout": 0.1, "word_ngrams": 2},
            "optim": {"name": "sgd_linear", "lr": 0.2},
            "train": {"engine": "compiled", "batch_size": 16},
        },
    ),
}


@pytest.mark.parametrize("engine", list(ENGINES))
def test_kill_9_at_random_moments_then_resume_gives_the_uninterrupted_run(tmp_path, engine):
    from textcls.checkpoint_files import checkpoint_info

    kills, epochs, longest_wait, sections = ENGINES[engine]

    csvs = _write_splits(tmp_path / "data", {"neg": NEGATIVE, "pos": POSITIVE})
    config = tmp_path / "c.yaml"
    config.write_text(
        yaml.safe_dump(
            small_config_dict(
                csvs,
                tmp_path / "runs",
                model=sections["model"],
                optim=sections["optim"],
                train={"epochs": epochs, "checkpoint_every": 3, "monitor": "accuracy", **sections.get("train", {})},
            )
        )
    )
    zygote, rng = Zygote(), random.Random(0)
    started = time.perf_counter()
    try:
        assert zygote.run("train", "-c", config, "--out", tmp_path / "straight", "-q") == 0
        run, steps = tmp_path / "killed", set()
        # The first epoch's end: a run folder with a checkpoint and no log yet.
        kill_between_checkpoint_and_line(zygote, ["-c", config, "--out", run], run, 1, csvs["valid"])
        for kill in range(kills):
            if kill == kills // 2:  # and one later, from a resume
                epoch = checkpoint_info(run, "last")["epoch"] + 1
                assert epoch <= epochs  # (the kills before left epochs to train)
                kill_between_checkpoint_and_line(zygote, ["--resume", run], run, epoch, csvs["valid"])
            resumable = (run / "checkpoints" / "index.json").is_file() and "last" in json.loads(
                (run / "checkpoints" / "index.json").read_text()
            )
            args = ["--resume", run] if resumable else ["-c", config, "--out", run, "--overwrite"]
            pid = zygote.start("train", *args, "-q")
            wait_for_lock(pid, run / ".lock")  # (killing it while it still starts up would test nothing new)
            time.sleep(rng.uniform(0.0, longest_wait))
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:  # (it finished first)
                pass
            assert zygote.wait() in (-signal.SIGKILL, 0)
            steps.add(check_survivor(run, csvs["valid"]))
        assert len(steps - {None}) >= 5, steps  # the kills landed at many points of training
        assert zygote.run("train", "--resume", run, "-q") == 0
    finally:
        zygote.close()
    assert log_epochs(run) == list(range(1, epochs + 1))  # every epoch logged once
    assert log_without_timings(run) == log_without_timings(tmp_path / "straight")  # (the lines kills cut off too)
    for name in ("best", "last"):
        a, b = (
            load_file(str(checkpoint_weights(run, name))),
            load_file(str(checkpoint_weights(tmp_path / "straight", name))),
        )
        assert all(torch.equal(a[k], b[k]) for k in a), name
    same = lambda p: {k: v for k, v in json.loads(p.read_text()).items()}
    assert same(run / "metrics.json") == same(tmp_path / "straight" / "metrics.json")
    leftovers = (
        {p.name for p in (run / "checkpoints").iterdir()}
        - {"index.json"}
        - {checkpoint_weights(run, n).parent.name for n in ("best", "last")}
    )
    assert not leftovers
    assert time.perf_counter() - started < 90
