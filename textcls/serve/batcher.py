"""Dynamic batching: texts from requests that arrive together are predicted as one batch. A request
queues its texts and waits; one task takes the first waiting request, then whatever else arrives
within `max_wait_ms` (when the last batch held more than one request: a lone client never waits)
until `max_batch` texts, predicts them in a worker thread (one batch at a time: the model is not
shared between threads), and hands each request its own results, in order. Requests that arrive
while a batch is predicted form the next one."""

from __future__ import annotations

import asyncio
from typing import Callable


class Batcher:
    def __init__(self, predict: Callable[[list[str]], list], max_batch: int = 256, max_wait_ms: float = 2.0):
        """`predict(texts)`: one result per text, in order (run in a worker thread)."""
        self.predict, self.max_batch, self.max_wait = predict, max_batch, max_wait_ms / 1000
        self.queue: asyncio.Queue | None = None
        self.task: asyncio.Task | None = None
        self.batch_sizes: list[int] = []  # since the last `take_sizes` (for /metrics)
        self.last_requests = 0  # requests in the last batch

    def start(self) -> None:
        self.queue = asyncio.Queue()
        self.task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            try:
                await self.task
            except asyncio.CancelledError:
                pass

    async def submit(self, texts: list[str]) -> list:
        """The results of `texts`, predicted with those of requests arriving alongside."""
        future = asyncio.get_running_loop().create_future()
        await self.queue.put((texts, future))
        return await future

    def take_sizes(self) -> list[int]:
        sizes, self.batch_sizes = self.batch_sizes, []
        return sizes

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            waiting = [await self.queue.get()]
            # Wait for company only when the last batch had some: a lone client is never delayed.
            wait = self.max_wait if self.last_requests > 1 else 0.0
            count, deadline = len(waiting[0][0]), loop.time() + wait
            while count < self.max_batch:
                try:
                    timeout = deadline - loop.time()
                    item = (
                        self.queue.get_nowait() if timeout <= 0 else await asyncio.wait_for(self.queue.get(), timeout)
                    )
                except (asyncio.QueueEmpty, asyncio.TimeoutError):
                    break
                waiting.append(item)
                count += len(item[0])
            texts = [text for request, _ in waiting for text in request]
            self.batch_sizes.append(len(texts))
            self.last_requests = len(waiting)
            try:
                results = await loop.run_in_executor(None, self.predict, texts)
            except Exception as exc:  # each request gets it (the server turns it into a status)
                for _, future in waiting:
                    if not future.done():
                        future.set_exception(exc)
                continue
            start = 0
            for request, future in waiting:
                if not future.done():  # (a client that went away)
                    future.set_result(results[start : start + len(request)])
                start += len(request)
