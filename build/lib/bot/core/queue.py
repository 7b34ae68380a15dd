"""The classification queue: batches replies and classifies them off the event loop.

Replies are already stored (state 'pending') before they are queued, so a crash loses
nothing: `start()` re-queues every pending reply. Writing a stance is guarded by the reply's
content version, so a late result for edited text is dropped, and a replayed item is a no-op.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

from bot.core.models import Prediction
from bot.core.ports import StanceStore
from bot.core.records import PendingItem

log = logging.getLogger(__name__)

ClassifyFn = Callable[[Sequence[tuple[str, str]]], list[Prediction]]


class ClassificationQueue:
    def __init__(
        self,
        repo: StanceStore,
        classify: ClassifyFn,
        *,
        batch_size: int = 64,
        max_delay: float = 0.05,
        max_pending: int = 4096,
        workers: int = 1,
    ) -> None:
        if workers < 1:
            raise ValueError("a classification queue needs at least one worker")
        self.repo = repo
        self.classify = classify
        self.batch_size = batch_size
        self.max_delay = max_delay
        self.workers = workers
        self._queue: asyncio.Queue[PendingItem] = asyncio.Queue(maxsize=max_pending)
        # Worker threads run the model, never the event loop: each takes a batch at a time,
        # so `workers` batches can be classified at once (`classify` must then be thread-safe:
        # the encoders are, for inference).
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="stance")
        self._tasks: list[asyncio.Task] = []
        self._recovery: asyncio.Task | None = None
        self.classified = 0
        self.failed = 0  # replies that could not be classified (left pending)
        self.on_batch: Callable[[int], None] | None = None  # progress hook (count written)
        # Called with each batch's predictions before their stances are written, so a crash in
        # between leaves the replies pending and the hook runs again (it must be idempotent).
        self.on_predictions: (
            Callable[[list[tuple[PendingItem, Prediction]]], Awaitable[None]] | None
        ) = None

    async def start(self, *, recover: bool = True) -> None:
        """Start the worker, and re-queue in the background the replies an earlier run stored
        but did not classify (start-up does not wait for a large backlog)."""
        if not self._tasks:
            self._tasks = [
                asyncio.create_task(self._run(), name=f"stance-queue-{i}")
                for i in range(self.workers)
            ]
        if recover and self._recovery is None:
            self._recovery = asyncio.create_task(self._recover(), name="stance-recovery")

    async def _recover(self, page: int = 1000) -> None:
        after, total = 0, 0
        while items := await self.repo.pending(limit=page, after=after):
            for item in items:
                await self.submit(item)
            total += len(items)
            after = items[-1].message_id
        if total:
            log.info("re-queued %d stored replies still awaiting classification", total)

    async def submit(self, item: PendingItem) -> None:
        """Queue an item; waits (without blocking the loop) when the queue is full."""
        if not self._tasks:
            raise RuntimeError("classification queue is not started")
        await self._queue.put(item)

    async def drain(self) -> None:
        """Wait until everything queued so far (and the recovered backlog) is classified."""
        if self._recovery is not None:
            await self._recovery
        await self._queue.join()

    async def stop(self) -> None:
        if self._recovery is not None and not self._recovery.done():
            self._recovery.cancel()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            try:
                await task
            except asyncio.CancelledError:
                pass
        self._tasks = []
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
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation that
            # lands as the get() completes, and stop() would then wait forever.
            try:
                async with asyncio.timeout(remaining):
                    batch.append(await self._queue.get())
            except TimeoutError:
                break
        return batch

    async def _classify(self, batch: list[PendingItem]) -> int:
        loop = asyncio.get_running_loop()
        pairs = [(item.question_id, item.content) for item in batch]
        preds = await loop.run_in_executor(self._executor, self.classify, pairs)
        results = list(zip(batch, preds, strict=True))
        if self.on_predictions is not None:
            await self.on_predictions(results)
        return await self.repo.write_model_stances(results)

    async def _run(self) -> None:
        while True:
            batch = await self._next_batch()
            try:
                try:
                    # Not `self.classified += await …`: that reads the count before the await,
                    # and with several workers another one's update in between would be lost.
                    written = await self._classify(batch)
                    self.classified += written
                except asyncio.CancelledError:
                    raise
                except Exception:
                    if len(batch) == 1:
                        raise
                    # One bad reply must not hold back the rest: retry them one by one.
                    log.warning("a batch of %d failed; classifying one by one", len(batch))
                    for item in batch:
                        try:
                            written = await self._classify([item])
                            self.classified += written
                        except asyncio.CancelledError:
                            raise
                        except Exception:
                            self.failed += 1
                            log.exception(
                                "cannot classify reply %s (question %s); it stays pending",
                                item.message_id,
                                item.question_id,
                            )
                if self.on_batch is not None:
                    self.on_batch(len(batch))
            except asyncio.CancelledError:
                raise
            except Exception:
                # Left 'pending' in storage: retried at the next start.
                self.failed += len(batch)
                log.exception("cannot classify reply %s", batch[0].message_id)
            finally:
                for _ in batch:
                    self._queue.task_done()
