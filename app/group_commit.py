"""The queue behind a group commit: one task per process takes everything handed to it while
the previous batch was being written, and writes it as the next batch. The message writer
(``app/messaging/writer.py``) and the audit writer (``app/audit/writer.py``) store different
things in their batches; this is what they share: the hand-over, the one task, and never
leaving a caller waiting when a batch fails."""

from __future__ import annotations

import asyncio
import contextvars
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Generic, TypeVar

from app.metrics import GroupCommitMetrics

Item = TypeVar("Item")
Result = TypeVar("Result")


class GroupCommit(ABC, Generic[Item, Result]):
    def __init__(
        self,
        *,
        name: str,
        metric: str,
        batch_max: int,
        on_task: Callable[[asyncio.Task[None]], None] | None = None,
    ) -> None:
        self._name = name
        self._batch_max = batch_max  # keeps one batch's commit short
        self._on_task = on_task
        self._pending: list[tuple[Item, asyncio.Future[Result]]] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._metrics = GroupCommitMetrics(metric)  # ``metric``: the writer's label value

    def _submit(self, item: Item) -> asyncio.Future[Result]:
        """Hand ``item`` over; the future is resolved once its batch is written (or fails)."""
        waiter: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._pending.append((item, waiter))
        self._metrics.queue.inc()
        if self._task is None or self._task.done():
            # In a context of its own: the task outlives the request or frame that started it
            # and writes for many, so it must not carry that one's request id or trace span.
            self._task = asyncio.create_task(
                self._run(), name=self._name, context=contextvars.Context()
            )
            if self._on_task is not None:
                self._on_task(self._task)
        self._wake.set()
        return waiter

    @abstractmethod
    async def _write(self, batch: list[tuple[Item, asyncio.Future[Result]]]) -> None:
        """Write the batch and resolve each waiter not already done."""

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        for _item, waiter in self._pending:
            if not waiter.done():
                waiter.set_exception(RuntimeError(f"the {self._name} stopped"))
        self._metrics.queue.dec(len(self._pending))
        self._pending.clear()

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                batch = self._pending[: self._batch_max]
                del self._pending[: self._batch_max]
                self._metrics.queue.dec(len(batch))
                self._metrics.batch.observe(len(batch))
                started = time.perf_counter()
                try:
                    await self._write(batch)
                    self._metrics.seconds.observe(time.perf_counter() - started)
                except BaseException as exc:  # never leave a caller waiting
                    for _item, waiter in batch:
                        if not waiter.done():
                            waiter.set_exception(
                                exc if isinstance(exc, Exception) else RuntimeError(exc)
                            )
                    if not isinstance(exc, Exception):
                        raise
