"""The server's counters in Prometheus's text format (version 0.0.4): requests by endpoint and
status, a latency histogram by endpoint, and the sizes of the batches predicted."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)  # seconds
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)  # texts


@dataclass
class Histogram:
    bounds: tuple
    counts: list = field(default_factory=list)  # per bound (not cumulative), then +Inf
    total: float = 0.0
    n: int = 0

    def observe(self, value: float) -> None:
        if not self.counts:
            self.counts = [0] * (len(self.bounds) + 1)
        self.counts[next((i for i, b in enumerate(self.bounds) if value <= b), len(self.bounds))] += 1
        self.total += value
        self.n += 1

    def lines(self, name: str, labels: str = "") -> list[str]:
        sep = "," if labels else ""
        counts, running, out = self.counts or [0] * (len(self.bounds) + 1), 0, []
        for bound, count in zip([*map(str, self.bounds), "+Inf"], counts):
            running += count
            out.append(f'{name}_bucket{{{labels}{sep}le="{bound}"}} {running}')
        braces = f"{{{labels}}}" if labels else ""
        return out + [f"{name}_sum{braces} {self.total}", f"{name}_count{braces} {self.n}"]


class Metrics:
    def __init__(self):
        self.requests: Counter = Counter()  # (endpoint, status) -> requests
        self.latency: dict[str, Histogram] = {}
        self.batches = Histogram(BATCH_BUCKETS)

    def record(self, endpoint: str, status: int, seconds: float) -> None:
        self.requests[(endpoint, status)] += 1
        self.latency.setdefault(endpoint, Histogram(LATENCY_BUCKETS)).observe(seconds)

    def text(self) -> str:
        lines = [
            "# HELP textcls_requests_total Requests by endpoint and HTTP status.",
            "# TYPE textcls_requests_total counter",
            *(
                f'textcls_requests_total{{endpoint="{e}",status="{s}"}} {n}'
                for (e, s), n in sorted(self.requests.items())
            ),
            "# HELP textcls_errors_total Requests answered with a 4xx or 5xx status, by endpoint and status.",
            "# TYPE textcls_errors_total counter",
            *(
                f'textcls_errors_total{{endpoint="{e}",status="{s}"}} {n}'
                for (e, s), n in sorted(self.requests.items())
                if s >= 400
            ),
            "# HELP textcls_request_seconds Time from a request's arrival to its answer.",
            "# TYPE textcls_request_seconds histogram",
        ]
        for endpoint, histogram in sorted(self.latency.items()):
            lines += histogram.lines("textcls_request_seconds", f'endpoint="{endpoint}"')
        lines += [
            "# HELP textcls_batch_texts Texts predicted together in one batch (dynamic batching).",
            "# TYPE textcls_batch_texts histogram",
            *self.batches.lines("textcls_batch_texts"),
        ]
        return "\n".join(lines) + "\n"
