"""`textcls serve` against a real server: started as a subprocess on a free port, on runs trained
here. Every endpoint; every class of refusal (JSON, 4xx, the server up after each); the same
results as `textcls predict`; concurrent clients each getting their own texts' results in order;
SIGTERM answering the request in flight, then exit 0; a damaged run folder refused at start with
predict's line; nothing written into the run folder."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from conftest import small_config_dict, tagging_rows, write_csv
from textcls.config import config_from_dict
from textcls.train import train

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, run: Path, *options: str):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        command = [sys.executable, "-m", "textcls", "serve", str(run), "--port", str(self.port), *options]
        self.process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=env)
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server ended: {self.process.stderr.read()}")
            try:
                if self.get("/health")[0] == 200:
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("the server did not come up in 60 s")

    def request(self, method: str, path: str, body: bytes | None = None, content_type="application/json"):
        request = urllib.request.Request(self.url + path, data=body, method=method)
        if content_type is not None and body is not None:
            request.add_header("Content-Type", content_type)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, response.headers.get("content-type"), response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.headers.get("content-type"), exc.read()

    def get(self, path: str):
        return self.request("GET", path)[::2]

    def post(self, path: str, data) -> tuple[int, dict]:
        status, _, body = self.request("POST", path, json.dumps(data).encode())
        return status, json.loads(body)

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=30)


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    from conftest import NEGATIVE, POSITIVE, _write_splits

    root = tmp_path_factory.mktemp("serve")
    csvs = _write_splits(root / "s", {"neg": NEGATIVE, "pos": POSITIVE})
    bow = train(
        config_from_dict(small_config_dict(csvs, root / "runs", model={"type": "bow", "word_ngrams": 2})),
        out=root / "bow",
    ).run_dir
    tags = {
        s: write_csv(root / f"t_{s}.csv", ["text", "tags"], tagging_rows(n, seed))
        for s, n, seed in (("train", 60, 1), ("valid", 20, 2))
    }
    raw = small_config_dict(tags, root / "runs", task="tagging", data={"label_column": "tags"}, train={"epochs": 2})
    tagger = train(config_from_dict(raw), out=root / "tagger").run_dir
    return {"bow": bow, "tagger": tagger}


@pytest.fixture(scope="module")
def server(runs):
    server = Server(runs["bow"], "--max-texts", "50", "--max-chars", "200")
    yield server
    assert server.stop() == 0


def snapshot(folder: Path) -> dict:
    return {str(p): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*") if p.is_file()}


TEXTS = ["a good film", "awful , dull plot", "lovely acting", "boring"]


def predict_cli(run: Path, texts: list[str]) -> list[dict]:
    from typer.testing import CliRunner

    from textcls.cli import app

    result = CliRunner().invoke(app, ["predict", str(run), *texts, "-f", "json"])
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_the_endpoints_answer(server, runs):
    assert server.get("/health") == (200, b'{"status":"ok"}')
    status, body = server.get("/info")
    info = json.loads(body)
    assert status == 200 and info["task"] == "classification" and info["labels"] == ["neg", "pos"]
    assert info["model"] == "bow" and info["backend"] == "numpy" and info["run"] == str(runs["bow"])
    status, page = server.get("/")
    assert status == 200 and b"<textarea" in page and b"http" not in page.split(b"<script>")[0].lower()
    status, result = server.post("/predict", {"texts": TEXTS})
    assert status == 200 and result["results"] == predict_cli(runs["bow"], TEXTS)  # as predict gives them
    status, result = server.post("/predict", {"texts": TEXTS[:2], "word_scores": False, "top_k": 1})
    assert [sorted(r) for r in result["results"]] == [["label", "line", "probabilities", "text", "top_k"]] * 2
    assert [r["top_k"][0]["label"] for r in result["results"]] == [r["label"] for r in result["results"]]
    status, metrics = server.get("/metrics")
    assert status == 200 and b'textcls_requests_total{endpoint="/predict",status="200"}' in metrics
    assert b"textcls_request_seconds_bucket" in metrics and b"textcls_batch_texts_count" in metrics


def test_every_refusal_is_json_with_its_status_and_the_server_stays_up(server):
    too_many = json.dumps({"texts": ["a"] * 51}).encode()
    cases = [
        (b"not json", "application/json", 400, "not JSON"),
        (b'{"texts": ["caf\xe9"]}', "application/json", 400, "not UTF-8"),
        (b'{"texts": ["a"]}', "text/plain", 415, "application/json"),
        (b'{"texts": ["a"]}', None, 415, "application/json"),
        (b'["a"]', "application/json", 422, "JSON object"),
        (b'{"texts": "a"}', "application/json", 422, "non-empty list"),
        (b'{"texts": []}', "application/json", 422, "non-empty list"),
        (b'{"texts": [1]}', "application/json", 422, "must be a string"),
        (b'{"texts": ["  "]}', "application/json", 422, "is empty"),
        (b'{"texts": ["a"], "colour": 1}', "application/json", 422, "unknown field 'colour'"),
        (b'{"texts": ["a"], "top_k": 0}', "application/json", 422, "top_k"),
        (b'{"texts": ["a"], "word_scores": "yes"}', "application/json", 422, "word_scores"),
        (too_many, "application/json", 413, "--max-texts"),
        (json.dumps({"texts": ["x" * 201]}).encode(), "application/json", 413, "--max-chars"),
    ]
    for body, content_type, status, fragment in cases:
        got, media, answer = server.request("POST", "/predict", body, content_type)
        error = json.loads(answer)["error"]
        assert (got, media) == (status, "application/json") and fragment in error, (body, got, error)
    assert server.request("GET", "/predict")[0] == 405
    assert server.request("POST", "/embed", b'{"texts": ["a"]}')[0] == 422  # not an embedding run
    with socket.create_connection(("127.0.0.1", server.port)) as raw:  # HTTP the server cannot parse
        raw.sendall(b"\x00\xffGARBAGE / HTTP/9\r\n\r\n")
        raw.recv(1000)
    assert server.get("/health")[0] == 200 and server.post("/predict", {"texts": ["good"]})[0] == 200


def test_concurrent_clients_each_get_their_own_results_in_order(server, runs):
    expected = {text: r for text, r in zip(TEXTS, predict_cli(runs["bow"], TEXTS))}
    failures = []

    def client(k: int) -> None:
        for i in range(15):
            texts = [TEXTS[(k + i + j) % len(TEXTS)] for j in range(1 + (k + i) % 3)]
            status, result = server.post("/predict", {"texts": texts})
            want = [{**expected[t], "line": n} for n, t in enumerate(texts, 1)]
            if status != 200 or result["results"] != want:
                failures.append((k, i, status))

    threads = [threading.Thread(target=client, args=(k,)) for k in range(24)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    sizes = [line for line in server.get("/metrics")[1].splitlines() if line.startswith(b"textcls_batch_texts_count")]
    assert sizes  # (batches were formed; their sizes are in /metrics)


def test_a_tagger_is_served_and_sigterm_answers_the_request_in_flight(runs):
    before = snapshot(runs["tagger"])
    server = Server(runs["tagger"], "--max-wait-ms", "800")  # a request waits 0.8 s for company
    answers = []
    waiting = threading.Thread(target=lambda: answers.append(server.post("/predict", {"texts": ["the dog ran"]})))
    waiting.start()
    time.sleep(0.3)
    assert server.stop() == 0  # drained, then a normal stop
    waiting.join()
    status, result = answers[0]
    assert status == 200 and result["results"] == predict_cli(runs["tagger"], ["the dog ran"])
    assert snapshot(runs["tagger"]) == before  # nothing written into the run folder


def test_a_damaged_run_folder_fails_at_start_with_predicts_line(runs, tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(runs["bow"], run)
    (run / "vocab.json").write_text("{tokens: [}")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    serve = subprocess.run(
        [sys.executable, "-m", "textcls", "serve", str(run), "--port", str(free_port())],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    predict = subprocess.run(
        [sys.executable, "-m", "textcls", "predict", str(run), "good"], capture_output=True, text=True, env=env
    )
    assert serve.returncode == 1 and "Traceback" not in serve.stderr
    assert serve.stderr.strip() == predict.stderr.strip() and "damaged run folder: vocab.json" in serve.stderr


def test_the_page_in_a_browser_shows_the_label_and_a_coloured_word_a_token(server, runs, tmp_path):
    from conftest import browser_or_skip

    driver = browser_or_skip()
    try:
        from selenium.webdriver.common.by import By
        from selenium.webdriver.common.keys import Keys
        from selenium.webdriver.support import expected_conditions
        from selenium.webdriver.support.ui import WebDriverWait

        driver.get(server.url + "/")
        WebDriverWait(driver, 20).until(lambda d: "classification" in d.find_element(By.ID, "facts").text)
        box = driver.find_element(By.ID, "text")
        box.send_keys("a good film , dull plot")
        box.send_keys(Keys.ENTER)  # (the keyboard submits)
        WebDriverWait(driver, 20).until(expected_conditions.presence_of_element_located((By.ID, "words")))
        expected = predict_cli(runs["bow"], ["a good film , dull plot"])[0]
        assert driver.find_element(By.ID, "label").text == expected["label"]
        words = driver.find_elements(By.CSS_SELECTOR, "#words .word")
        assert [w.text for w in words] == expected["tokens"]
        colours = [w.value_of_css_property("background-color") for w in words]
        for colour, score in zip(colours, expected["token_scores"]):  # green for, red against
            red, green = (int(float(x)) for x in colour[colour.index("(") + 1 :].split(",")[:2])
            assert (green > red) == (score >= 0), (colour, score)
        assert [float(w.get_attribute("title").removeprefix("score ")) for w in words] == expected["token_scores"]
        driver.save_screenshot(str(tmp_path / "serve.png"))
        assert (tmp_path / "serve.png").read_bytes().startswith(b"\x89PNG")
    finally:
        driver.quit()


def test_an_embedding_run_embeds_and_compares(tmp_path):
    """/embed gives the vectors `embed_texts` gives, /similarity their cosines, the pairs in order."""
    import numpy as np

    from conftest import NEGATIVE, NEUTRAL, POSITIVE, _write_splits
    from textcls.checkpoint import load_run
    from textcls.predict import embed_texts, similarities

    csvs = _write_splits(tmp_path / "e", {"neg": NEGATIVE, "neu": NEUTRAL, "pos": POSITIVE})
    raw = small_config_dict(
        csvs,
        tmp_path / "runs",
        task="embedding",
        loss={"name": "triplet", "mining": "semihard", "margin": 0.5},
        train={"epochs": 1, "classes_per_batch": 3, "per_class": 4, "monitor": "recall_at_1"},
    )
    run = train(config_from_dict(raw), out=tmp_path / "run").run_dir
    server = Server(run)
    try:
        status, body = server.post("/embed", {"texts": TEXTS})
        assert status == 200
        expected = embed_texts(load_run(run), TEXTS)
        np.testing.assert_allclose(np.array(body["embeddings"]), expected, atol=1e-5)
        status, body = server.post("/similarity", {"first": TEXTS[:2], "second": TEXTS[2:]})
        assert status == 200
        np.testing.assert_allclose(body["similarities"], similarities(load_run(run), TEXTS[:2], TEXTS[2:]), atol=1e-6)
        status, body = server.post("/similarity", {"first": TEXTS[:2], "second": TEXTS[:1]})
        assert status == 422 and "pair them one to one" in body["error"]
        assert server.post("/embed", {"texts": ["a"], "other": 1}) == (
            422,
            {"error": "unknown field 'other' (fields: texts)"},
        )
    finally:
        assert server.stop() == 0
