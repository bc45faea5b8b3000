"""The prediction server's ASGI application (Starlette): a loaded run behind JSON endpoints and a web
page. Every refusal is JSON `{"error": "..."}` with a 4xx status (serve/requests.py); texts are
predicted in dynamic batches (serve/batcher.py); counters in Prometheus's format (serve/metrics.py).

    GET  /            the page: type a sentence, see its prediction and each word's score
    GET  /health      200 {"status": "ok"} once the run is loaded (503 before)
    GET  /info        task, labels, model type, run folder, textcls version, backend
    GET  /metrics     Prometheus text
    POST /predict     {"texts": [...], "word_scores": true, "top_k": 3} -> {"results": [...]}: each
                      the object `predict --format json` gives, "line" from 1
    POST /embed       {"texts": [...]} -> {"embeddings": [[...], ...]} (sentence-embedding runs)
    POST /similarity  {"first": [...], "second": [...]} -> {"similarities": [...]} (the same)
"""

from __future__ import annotations

import contextlib
import sys
import time
from dataclasses import dataclass

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from textcls import __version__
from textcls.errors import TextclsError
from textcls.serve.batcher import Batcher
from textcls.serve.metrics import Metrics
from textcls.serve.page import PAGE
from textcls.serve.requests import BadRequest, Limits, json_body, object_with, predict_request, texts_of


@dataclass
class Options:
    limits: Limits
    max_batch: int = 256  # texts predicted together at most
    max_wait_ms: float = 2.0  # how long the first request of a batch waits for others


def json_response(data, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type="application/json")


def shaped(results: list[dict], word_scores: bool, top_k: int | None) -> list[dict]:
    """`predict_texts` results as one request asked for them: lines from 1, the words and their
    scores only with `word_scores`, the `top_k` most probable classes."""
    out = []
    for line, result in enumerate(results, 1):
        result = {k: v for k, v in result.items() if word_scores or k not in ("tokens", "token_scores")}
        result["line"] = line
        if top_k:
            probabilities = result.get("probabilities")
            if not isinstance(probabilities, dict):
                raise BadRequest(422, "'top_k' needs class probabilities, which this run's task does not give")
            ranked = sorted(probabilities.items(), key=lambda kv: -kv[1])[:top_k]
            result["top_k"] = [{"label": label, "probability": p} for label, p in ranked]
        out.append(result)
    return out


def build_app(run, options: Options) -> Starlette:
    """The application serving `run` (a loaded run: backends.open_run)."""
    from textcls.predict import predict_texts

    metrics = Metrics()
    batcher = Batcher(lambda texts: predict_texts(run, texts, batch_size=8192), options.max_batch, options.max_wait_ms)
    limits = options.limits

    def endpoint(name: str, handler):
        async def serve(request: Request) -> Response:
            start = time.perf_counter()
            try:
                response = await handler(request)
            except BadRequest as exc:
                response = json_response({"error": exc.message}, exc.status)
            except TextclsError as exc:  # e.g. a text without tokens, a run that cannot embed
                response = json_response({"error": str(exc)}, 422)
            except Exception as exc:  # a bug: still JSON, and one line on stderr, the server goes on
                print(f"textcls serve: {request.url.path}: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
                response = json_response({"error": f"internal error ({type(exc).__name__})"}, 500)
            metrics.record(name, response.status_code, time.perf_counter() - start)
            for size in batcher.take_sizes():
                metrics.batches.observe(size)
            return response

        return serve

    async def read_json(request: Request):
        return json_body(request.headers.get("content-type"), await request.body(), limits)

    async def page(request):
        return HTMLResponse(PAGE)

    async def health(request):
        return json_response({"status": "ok"})

    async def info(request):
        return json_response(
            {
                "task": run.task.name,
                "labels": run.labels,
                "model": run.config.model.type,
                "run": str(run.dir),
                "textcls": __version__,
                "backend": run.backend,
            }
        )

    async def metrics_text(request):
        return Response(metrics.text(), media_type="text/plain; version=0.0.4")

    async def predict(request):
        asked = predict_request(await read_json(request), limits)
        results = await batcher.submit(asked.texts)
        return json_response({"results": shaped(results, asked.word_scores, asked.top_k)})

    async def embed(request):
        from textcls.predict import embed_texts

        data = object_with(await read_json(request), ("texts",))
        vectors = embed_texts(needs_torch(run, "/embed"), texts_of(data, limits))
        return json_response({"embeddings": vectors.round(6).tolist()})

    async def similarity(request):
        from textcls.predict import similarities

        data = object_with(await read_json(request), ("first", "second"))
        first, second = texts_of(data, limits, "first"), texts_of(data, limits, "second")
        if len(first) != len(second):
            raise BadRequest(422, f"'first' has {len(first)} texts and 'second' {len(second)}: pair them one to one")
        return json_response({"similarities": similarities(needs_torch(run, "/similarity"), first, second).tolist()})

    routes = [
        Route("/", endpoint("/", page)),
        Route("/health", endpoint("/health", health)),
        Route("/info", endpoint("/info", info)),
        Route("/metrics", endpoint("/metrics", metrics_text)),
        Route("/predict", endpoint("/predict", predict), methods=["POST"]),
        Route("/embed", endpoint("/embed", embed), methods=["POST"]),
        Route("/similarity", endpoint("/similarity", similarity), methods=["POST"]),
    ]

    async def not_found(request, exc):
        status = getattr(exc, "status_code", 404)
        return json_response({"error": f"{request.method} {request.url.path}: {exc.detail}"}, status)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        batcher.start()
        yield
        await batcher.stop()  # (after uvicorn has answered the requests in flight)

    return Starlette(routes=routes, exception_handlers={404: not_found, 405: not_found}, lifespan=lifespan)


def needs_torch(run, endpoint: str):
    if run.task.name != "embedding" or getattr(run, "backend", "torch") != "torch":
        raise BadRequest(422, f"{endpoint} answers for sentence-embedding runs; this run's task is {run.task.name}")
    return run
