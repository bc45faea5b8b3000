"""Serve benchmark: requests/s and latency of `textcls serve` under concurrent clients.

Two runs trained once on the shipped movie sentences: configs/sentiment_bow.yaml as shipped (the
numpy backend) and configs/sentiment_lstm.yaml for --lstm-epochs epochs (torch). Each is served
with dynamic batching (the defaults: up to 256 texts, 2 ms wait) and without (--max-batch 1), one
server process at a time, on 127.0.0.1 and a free port. The load generator is an aiohttp client in
this process (asyncio, one keep-alive connection a client): 1, 16 and 64 concurrent clients, each
sending one movie sentence per POST /predict in a loop bounded by --seconds and --max-requests,
so every loop stops by itself; only the loopback address is ever sent to. First the generator's own
ceiling: the same clients against GET /health. Requests/s, p50/p95/p99 latency (ms) and errors (a
status other than 200, or a result for another text). Prints a table and writes --out (JSON).

    python scripts/bench_serve.py                    # 60 s per row
    python scripts/bench_serve.py --seconds 10       # a quicker look
    python scripts/bench_serve.py --screenshot docs/serve.png   # the page, for the README
    python scripts/bench_serve.py --soak 1000000     # 1 M requests, every 100th malformed: answers, memory
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

from benchlib import ROOT, cli_path, fmt, log, print_table, write_json

CLIENTS = (1, 16, 64)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sentences() -> list[str]:
    with open(ROOT / "data/sentiment/movies_test.csv", newline="", encoding="utf-8") as f:
        return [row["text"] for row in csv.DictReader(f) if row["text"].strip()]


def train_runs(args) -> dict[str, Path]:
    runs = {}
    for name, config, sets in (
        ("bag of words", "configs/sentiment_bow.yaml", []),
        ("LSTM", "configs/sentiment_lstm.yaml", ["--set", f"train.epochs={args.lstm_epochs}"]),
    ):
        out = args.work / name.replace(" ", "-")
        if not (out / "metrics.json").is_file():
            log(f"training {config} ...")
            command = [sys.executable, "-m", "textcls", "train", "-c", config, *sets, "--out", out, "--overwrite", "-q"]
            subprocess.run(list(map(str, command)), cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
        runs[name] = out
    return runs


class Server:
    def __init__(self, run: Path, options: list[str]):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        command = [sys.executable, "-m", "textcls", "serve", str(run), "--port", str(self.port), *options]
        self.process = subprocess.Popen(command, cwd=ROOT, stderr=subprocess.DEVNULL)

    async def ready(self, session) -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                async with session.get(self.url + "/health") as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            await asyncio.sleep(0.2)
        raise RuntimeError("the server did not come up in 120 s")

    def rss_mb(self) -> float:
        with open(f"/proc/{self.process.pid}/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:")) / 1024

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=60)


async def load(url: str, clients: int, seconds: float, max_requests: int, texts: list[str] | None) -> dict:
    """`clients` loops, each with its own connection, until `seconds` pass or it sent `max_requests`:
    POST /predict one sentence each (texts), or GET /health (None)."""
    import aiohttp

    latencies, errors = [], 0
    deadline = time.monotonic() + seconds

    async def client(k: int) -> None:
        nonlocal errors
        connector = aiohttp.TCPConnector(limit=1)
        async with aiohttp.ClientSession(connector=connector) as session:
            for i in range(max_requests):
                if time.monotonic() >= deadline:
                    return
                start = time.perf_counter()
                if texts is None:
                    async with session.get(url + "/health") as response:
                        ok = response.status == 200
                        await response.read()
                else:
                    text = texts[(k * 7919 + i) % len(texts)]
                    async with session.post(url + "/predict", json={"texts": [text]}) as response:
                        ok = response.status == 200 and (await response.json())["results"][0]["text"] == text
                latencies.append(time.perf_counter() - start)
                errors += not ok

    start = time.monotonic()
    await asyncio.gather(*(client(k) for k in range(clients)))
    elapsed = time.monotonic() - start
    cuts = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [latencies[0]] * 99
    return {
        "clients": clients,
        "requests": len(latencies),
        "seconds": elapsed,
        "requests_per_second": len(latencies) / elapsed,
        "p50_ms": 1000 * cuts[49],
        "p95_ms": 1000 * cuts[94],
        "p99_ms": 1000 * cuts[98],
        "errors": errors,
    }


async def bench(args) -> dict:
    import aiohttp

    runs, texts = train_runs(args), sentences()
    results = {"rows": []}
    for model, run in runs.items():
        for batching, options in (("dynamic batching", []), ("one request at a time", ["--max-batch", "1"])):
            server = Server(run, options)
            try:
                async with aiohttp.ClientSession() as session:
                    await server.ready(session)
                for clients in args.clients:
                    if not results.get("ceiling", {}).get(clients):  # the generator against /health, once
                        results.setdefault("ceiling", {})[clients] = await load(
                            server.url, clients, args.seconds, args.max_requests, None
                        )
                    log(f"{model}, {batching}: {clients} client(s) for {args.seconds:g} s ...")
                    row = await load(server.url, clients, args.seconds, args.max_requests, texts)
                    results["rows"].append({"model": model, "batching": batching, **row, "rss_mb": server.rss_mb()})
            finally:
                results.setdefault("exit_codes", []).append(server.stop())
    return results


MALFORMED = [  # (body, content type, the status it must get)
    (b"not json", "application/json", 400),
    (b'{"texts": ["caf\xe9"]}', "application/json", 400),
    (b'{"texts": ["a"]}', "text/plain", 415),
    (b'{"texts": "a"}', "application/json", 422),
    (b'{"texts": [""]}', "application/json", 422),
    (b'{"texts": ["a"], "colour": 1}', "application/json", 422),
    (b'{"texts": ["' + b"x" * 100_001 + b'"]}', "application/json", 413),
]


async def soak(url: str, server: Server, requests: int, clients: int, texts: list[str], malformed_every: int) -> dict:
    """`requests` requests from `clients` loops (bounded by count), every `malformed_every`-th one of
    the MALFORMED kinds in turn: each must get its status, every good one the result the server gave
    that text first; the server's RSS after the first 10,000 requests and at the end."""
    import aiohttp

    sent, wrong, first, rss = 0, [], {}, {}

    async def client(k: int) -> None:
        nonlocal sent
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1)) as session:
            while sent < requests:
                n = sent = sent + 1
                if n == 10_000:
                    rss["after_10000"] = server.rss_mb()
                if n % malformed_every == 0:
                    body, content_type, status = MALFORMED[(n // malformed_every) % len(MALFORMED)]
                    async with session.post(url + "/predict", data=body, headers={"Content-Type": content_type}) as r:
                        answer = await r.json()
                        if r.status != status or "error" not in answer:
                            wrong.append((n, r.status))
                    continue
                text = texts[(k * 7919 + n) % len(texts)]
                async with session.post(url + "/predict", json={"texts": [text]}) as r:
                    result = (await r.json())["results"][0] if r.status == 200 else None
                if result is None or first.setdefault(text, result) != result:
                    wrong.append((n, r.status))

    start = time.monotonic()
    await asyncio.gather(*(client(k) for k in range(clients)))
    rss["end"] = server.rss_mb()
    return {
        "requests": sent,
        "malformed": sent // malformed_every,
        "seconds": time.monotonic() - start,
        "wrong": len(wrong),
        "rss_mb": rss,
        "rss_growth": rss["end"] / rss["after_10000"] - 1,
    }


async def soak_bench(args) -> dict:
    import aiohttp

    run = train_runs(args)["bag of words"]
    server = Server(run, [])
    try:
        async with aiohttp.ClientSession() as session:
            await server.ready(session)
        result = await soak(server.url, server, args.soak, 64, sentences(), args.malformed_every)
    finally:
        result_exit = server.stop()
    return {**result, "exit_code": result_exit}


def screenshot(run: Path, path: Path, sentence: str) -> None:
    """The page, `sentence` typed and predicted, as a PNG at `path` (headless Chromium, selenium)."""
    import shutil

    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or shutil.which("chromium-browser")
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=900,520"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(shutil.which("chromedriver")))
    server = Server(run.relative_to(ROOT), [])  # (the page shows the run folder as the server was given it)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                driver.get(server.url + "/")
                break
            except Exception:  # (not listening yet)
                time.sleep(0.3)
        WebDriverWait(driver, 20).until(lambda d: d.find_element(By.ID, "facts").text.startswith("classification"))
        box = driver.find_element(By.ID, "text")
        box.send_keys(sentence)
        box.send_keys(Keys.ENTER)
        WebDriverWait(driver, 20).until(lambda d: d.find_elements(By.ID, "words"))
        path.parent.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(path))
    finally:
        driver.quit()
        server.stop()


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="per row (default: 60)")
    parser.add_argument("--max-requests", type=int, default=1_000_000, help="per client and row at most")
    parser.add_argument("--clients", default=",".join(map(str, CLIENTS)), help="comma-separated (default: 1,16,64)")
    parser.add_argument("--lstm-epochs", type=int, default=2, help="the LSTM run's epochs (default: 2)")
    parser.add_argument("--work", help="runs folder (default: bench/serve_runs in the repository)")
    parser.add_argument("--out", help="results JSON (default: bench/serve.json in the repository)")
    parser.add_argument("--screenshot", help="only save the page, a sentence predicted, as this PNG (the bag of words)")
    parser.add_argument(
        "--soak", type=int, help="only this many requests to the bag of words from 64 clients, some malformed"
    )
    parser.add_argument("--malformed-every", type=int, default=100, help="with --soak: every N-th request malformed")
    args = parser.parse_args(argv)
    args.clients = [int(c) for c in args.clients.split(",")]
    args.work, out = cli_path(args.work, "bench/serve_runs"), cli_path(args.out, "bench/serve.json")
    os.chdir(ROOT)
    if args.screenshot:
        shot = Path(args.screenshot).resolve()
        screenshot(train_runs(args)["bag of words"], shot, "A gorgeous, witty film, though the plot drags.")
        log(f"wrote {shot}")
        return
    if args.soak:
        result = asyncio.run(soak_bench(args))
        write_json(out.with_name(out.stem + "_soak.json"), result)
        print_table(
            f"{result['requests']:,} requests from 64 clients, {result['malformed']:,} of them malformed",
            ["seconds", "requests/s", "wrong answers", "RSS MB after 10,000", "RSS MB at the end", "growth", "exit"],
            [
                [
                    fmt(result["seconds"], ".0f"),
                    fmt(result["requests"] / result["seconds"], ",.0f"),
                    str(result["wrong"]),
                    fmt(result["rss_mb"]["after_10000"], ".0f"),
                    fmt(result["rss_mb"]["end"], ".0f"),
                    fmt(100 * result["rss_growth"], "+.1f", "%"),
                    str(result["exit_code"]),
                ]
            ],
        )
        return
    results = asyncio.run(bench(args))
    results["command"] = " ".join(sys.argv)
    write_json(out, results)
    ceiling = results["ceiling"]
    rows = [
        [
            "GET /health (the load generator's ceiling)",
            "",
            str(c),
            fmt(x["requests_per_second"], ",.0f"),
            "",
            "",
            "",
            "",
        ]
        for c, x in ceiling.items()
    ] + [
        [
            r["model"],
            r["batching"],
            str(r["clients"]),
            fmt(r["requests_per_second"], ",.0f"),
            fmt(r["p50_ms"], ".1f"),
            fmt(r["p95_ms"], ".1f"),
            fmt(r["p99_ms"], ".1f"),
            str(r["errors"]),
        ]
        for r in results["rows"]
    ]
    print_table(
        f"textcls serve, one sentence a request, {args.seconds:g} s a row (exit codes {results['exit_codes']})",
        ["model", "batching", "clients", "requests/s", "p50 ms", "p95 ms", "p99 ms", "errors"],
        rows,
        left=["model", "batching"],
    )
    log(f"wrote {out}")


if __name__ == "__main__":
    main()
