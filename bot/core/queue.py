"""The classification queue: batches replies and classifies them off the event loop.

Replies are already stored (state 'pending') before they are queued, so a crash loses
nothing: `start()` re-queues every pending reply. Writing a stance is guarded by the reply's
content version, so a late result for edited text is dropped, and a replayed item is a no-op.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

from bot.core.models import Prediction
from bot.storage.repository import PendingItem, Repository

log = logging.getLogger(__name__)

ClassifyFn = Callable[[Sequence[tuple[str, str]]], list[Prediction]]


class ClassificationQueue:
    def __init__(
        self,
        repo: Repository,
        classify: ClassifyFn,
        *,
        batch_size: int = 64,
        max_delay: float = 0.05,
        max_pending: int = 4096,
    ) -> None:
        self.repo = repo
        self.classify = classify
        self.batch_size = batch_size
        self.max_delay = max_delay
        self._queue: asyncio.Queue[PendingItem] = asyncio.Queue(maxsize=max_pending)
        # One worker thread: the model is used by one batch at a time, never on the event loop.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="stance")
        self._task: asyncio.Task | None = None
        self.classified = 0
        self.failed_batches = 0
        self.on_batch: Callable[[int], None] | None = None  # progress hook (count written)

    async def start(self, *, recover: bool = True) -> int:
        """Start the worker; re-queue replies left pending by an earlier run. Returns that count."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="stance-queue")
        recovered = 0
        if recover:
            for item in await self.repo.pending(limit=1_000_000):
                await self.submit(item)
                recovered += 1
            if recovered:
                log.info("re-queued %d stored replies still awaiting classification", recovered)
        return recovered

    async def submit(self, item: PendingItem) -> None:
        """Queue an item; waits (without blocking the loop) when the queue is full."""
        if self._task is None:
            raise RuntimeError("classification queue is not started")
        await self._queue.put(item)

    async def drain(self) -> None:
        """Wait until everything queued so far has been classified and stored."""
        await self._queue.join()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        self._executor.shutdown(wait=True)

    async def _next_batch(self) -> list[PendingItem]:
        batch = [await self._queue.get()]
        deadline = time.monotonic() + self.max_delay
        while len(batch) < self.batch_size:
            try:
                batch.append(self._queue.get_nowait())
                continue
            except asyncio.QueueEmpty:
                pass
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                batch.append(await asyncio.wait_for(self._queue.get(), remaining))
            except TimeoutError:
                break
        return batch

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = await self._next_batch()
            try:
                pairs = [(item.question_id, item.content) for item in batch]
                preds = await loop.run_in_executor(self._executor, self.classify, pairs)
                written = await self.repo.write_model_stances(list(zip(batch, preds, strict=True)))
                self.classified += written
                if self.on_batch is not None:
                    self.on_batch(len(batch))
            except asyncio.CancelledError:
                raise
            except Exception:
                # The replies stay 'pending' in storage and are retried on the next start.
                self.failed_batches += 1
                log.exception("classifying a batch of %d replies failed", len(batch))
            finally:
                for _ in batch:
                    self._queue.task_done()
