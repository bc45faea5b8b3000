"""Stopping a training cleanly: on SIGINT (Ctrl-C) or SIGTERM, the current step finishes (with
Hogwild, the current epoch), `last` is saved, and the command exits 130 or 143 (128 + the signal's
number) with the resume command."""

from __future__ import annotations

import signal
import threading

from textcls.errors import Interrupted

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopOnSignal:
    """While a trainer is `armed`, a signal asks it to stop after its step (it saves `last`); any
    other time, or at a second signal, the signal stops the process at once (a checkpoint being
    written is then abandoned whole: the earlier ones stay)."""

    def __init__(self):
        self.trainer = None  # armed: the trainer that stops at the next step
        self.signum: int | None = None
        self._previous: dict = {}

    def __enter__(self) -> "StopOnSignal":
        if threading.current_thread() is threading.main_thread():  # (handlers can only be set there)
            self._previous = {s: signal.signal(s, self._handle) for s in SIGNALS}
        return self

    def __exit__(self, *exc) -> None:
        for s, handler in self._previous.items():
            signal.signal(s, handler)

    def _handle(self, signum: int, frame) -> None:
        if self.trainer is None or self.signum is not None:
            raise Interrupted(signum, "stopped before anything more was saved")
        self.signum = signum
        self.trainer.stop_requested = True
