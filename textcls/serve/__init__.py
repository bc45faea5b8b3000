"""`textcls serve`: a prediction server with a web page (Starlette under uvicorn; the serve extra)."""

from __future__ import annotations

import signal
import sys

from textcls.serve.app import Options, build_app
from textcls.serve.requests import Limits

__all__ = ["Limits", "Options", "build_app", "serve"]


def serve(run, host: str, port: int, options: Options) -> None:
    """Serves `run` on host:port until SIGTERM or SIGINT, which stop it after the requests in flight
    are answered (then this returns: exit 0, a server's normal stop)."""
    import uvicorn

    class DrainingServer(uvicorn.Server):
        def handle_exit(self, sig, frame):
            # (uvicorn's own records the signal and raises it again once stopped: exit 130 or 143)
            if self.should_exit and sig == signal.SIGINT:
                self.force_exit = True  # a second Ctrl-C: stop now
            else:
                self.should_exit = True

    config = uvicorn.Config(build_app(run, options), host=host, port=port, log_level="warning", access_log=False)
    print(f"serving {run.dir} ({run.task.name}, {run.backend}) on http://{host}:{port}", file=sys.stderr, flush=True)
    DrainingServer(config).run()
