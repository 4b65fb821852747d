"""Run coroutines from gevent greenlets: one asyncio loop in a real thread.

Locust runs its users as greenlets on a gevent-patched process; the pipeline
is asyncio. The bridge keeps one event loop per process in an OS thread that
gevent does not manage (started through `monkey.get_original`, on the
original epoll selector), so the pipeline's client, token cache and
connection pool are shared by every user of the process.

A greenlet submits its coroutine with `run_coroutine_threadsafe` and then
sleeps on a gevent async watcher that the loop thread fires when the
coroutine is done. Waiting costs no thread, so any number of users wait at
once (gevent's threadpool, the other way to wait, has 10 threads unless
resized and would cap the concurrency at 10).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, ParamSpec, TypeVar

from gevent import GreenletExit, monkey
from gevent.hub import Waiter, get_hub

logger = logging.getLogger(__name__)

T = TypeVar("T")
P = ParamSpec("P")


class InlineExecutor(ThreadPoolExecutor):
    """Runs each call at once, on the calling thread: the loop's thread.

    asyncio hands blocking calls (`to_thread`, name resolution) to its default
    executor. In a gevent-patched process the locks those calls create are
    gevent locks, which deadlock when real threads contend for them (seen
    with the audit log's lock), and patched threads would be greenlets of a
    hub that never runs. Inline, every such call runs on the loop thread, one
    at a time: a slow one (an fsync, a lock held by another process) holds up
    the loop while it lasts, which load runs accept. (asyncio accepts only a
    ThreadPoolExecutor, hence the base class; it never starts a thread.)
    """

    def submit(
        self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs
    ) -> Future[T]:
        future: Future[T] = Future()
        future.set_running_or_notify_cancel()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:
            future.set_exception(exc)
        return future


# gevent ships no annotations, so its GreenletExit is `Any` to mypy.
class Interrupted(GreenletExit):  # type: ignore[misc]
    """A greenlet killed while it waited; `result` is what the coroutine gave."""

    def __init__(self, result: Any) -> None:
        super().__init__()
        self.result = result


def _wait(future: Future[Any]) -> None:
    """Sleep this greenlet until the future is done, on a gevent watcher."""
    hub = get_hub()
    watcher = hub.loop.async_()
    waiter = Waiter(hub)
    # Armed before the callback is added: a future already done fires it
    # at once, from this thread, and the wakeup is not lost.
    watcher.start(waiter.switch, None)
    future.add_done_callback(lambda _done: watcher.send())
    try:
        waiter.get()
    except BaseException:
        # Stopped, not closed: the loop thread may still send to it.
        watcher.stop()
        raise
    watcher.stop()
    watcher.close()


class AsyncioBridge:
    """One asyncio event loop in its own OS thread, callable from greenlets."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The running loop, started on first use (after locust's fork)."""
        if self._loop is None:
            self._loop = self._start()
        return self._loop

    def _start(self) -> asyncio.AbstractEventLoop:
        # The originals: a patched thread would be a greenlet, and a patched
        # selector would hand the loop's waiting to gevent's hub.
        start_thread = monkey.get_original("_thread", "start_new_thread")
        allocate_lock = monkey.get_original("_thread", "allocate_lock")
        selector_class = monkey.get_original("selectors", "EpollSelector")

        loop = asyncio.SelectorEventLoop(selector_class())
        loop.set_default_executor(InlineExecutor())
        started = allocate_lock()
        started.acquire()

        def run() -> None:
            asyncio.set_event_loop(loop)
            loop.call_soon(started.release)
            loop.run_forever()

        start_thread(run, ())
        started.acquire()
        logger.debug("asyncio loop thread started")
        return loop

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine on the loop; only this greenlet waits for it.

        Raises:
            Interrupted: the greenlet was killed while it waited; the
                coroutine still ran to its end and the exception carries
                its result, so the caller can count it before exiting.
        """
        future = asyncio.run_coroutine_threadsafe(coroutine, self.loop)
        try:
            _wait(future)
        except GreenletExit:
            # Locust's graceful stop can land while a user waits here (it
            # kills a user it saw between tasks, asynchronously). The
            # coroutine runs on and the pipeline records it regardless.
            _wait(future)
            raise Interrupted(future.result()) from None
        return future.result()

    def close(self, coroutine: Coroutine[Any, Any, Any] | None = None) -> None:
        """Run a last coroutine (e.g. closing clients), then stop the loop."""
        if self._loop is None:
            if coroutine is not None:
                coroutine.close()
            return
        if coroutine is not None:
            self.run(coroutine)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._loop = None
