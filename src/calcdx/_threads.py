"""A small shared thread pool for independent steps of one analysis.

cc3d, numpy's boolean and arithmetic loops and most of scipy.ndimage's filters
release the GIL on large arrays, so two such steps that read the same arrays and
write none of each other's can run on two cores. Each use here is of that kind:
the steps' results are the same as run one after the other, only their wall
time overlaps.

``CALCDX_THREADS`` sets the number of worker threads (default: the number of
cores, at most 2); ``CALCDX_THREADS=1`` runs every step in the calling thread,
one after the other (one core).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

__all__ = ["Deferred", "map_split", "n_threads", "run_both", "submit"]

T = TypeVar("T")

_POOL: ThreadPoolExecutor | None = None
_PREFIX = "calcdx-pool"
_LOCAL = threading.local()  # .inside: the calling thread runs its share of a split step


def _inline() -> bool:
    """Whether a step must run at once: one thread, on the pool, or within a split step.

    On the pool, waiting for the pool could deadlock; within a split step the
    other share keeps the pool busy, so a nested step would only wait for it.
    """
    return (n_threads() < 2 or threading.current_thread().name.startswith(_PREFIX)
            or bool(getattr(_LOCAL, "inside", False)))


def _here(fn: Callable[[], T]) -> T:
    """``fn()`` in this thread, marked as within a split step."""
    before = getattr(_LOCAL, "inside", False)
    _LOCAL.inside = True
    try:
        return fn()
    finally:
        _LOCAL.inside = before


def n_threads() -> int:
    """Threads the analysis may use (``CALCDX_THREADS``, else the cores, at most 2)."""
    raw = os.environ.get("CALCDX_THREADS", "").strip()
    if raw:
        try:
            return max(1, int(raw))
        except ValueError:
            raise ValueError(
                f"CALCDX_THREADS must be a whole number of threads, got {raw!r}; "
                "set it to 1 for one core or unset it") from None
    return max(1, min(2, os.cpu_count() or 1))


class Deferred:
    """The result of a step run now (one thread) or on the pool (:func:`submit`)."""

    def __init__(self, future: Future[Any] | None = None, value: Any = None) -> None:
        self._future = future
        self._value = value

    def result(self) -> Any:
        """The step's return value (waits for it; re-raises its exception)."""
        if self._future is not None:
            return self._future.result()
        return self._value


def _pool() -> ThreadPoolExecutor:
    global _POOL
    if _POOL is None:
        # one worker beside the calling thread: the calling thread does the other step
        _POOL = ThreadPoolExecutor(max_workers=max(1, n_threads() - 1),
                                   thread_name_prefix=_PREFIX)
    return _POOL


def submit(fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Deferred:
    """Run ``fn(*args, **kwargs)`` on the pool, or at once with one thread.

    Parameters
    ----------
    fn : callable
        A step that writes nothing the caller reads or writes meanwhile.

    Returns
    -------
    Deferred
        ``.result()`` gives its value.
    """
    if _inline():
        return Deferred(value=fn(*args, **kwargs))
    return Deferred(future=_pool().submit(fn, *args, **kwargs))


def run_both(first: Callable[[], T], second: Callable[[], Any]) -> tuple[T, Any]:
    """``(first(), second())``, the second on the pool while the first runs here."""
    if _inline():
        return first(), second()
    other = submit(second)
    return _here(first), other.result()


def map_split(fn: Callable[[Any], T], items: list[Any]) -> list[T]:
    """``[fn(x) for x in items]``, every other item on the pool while the rest run here.

    Parameters
    ----------
    fn : callable
        Called once per item; calls on different items must write nothing shared.
    items : list

    Returns
    -------
    list
        The results in the order of `items` (the same values as in turn).
    """
    if len(items) < 2 or _inline():
        return [fn(x) for x in items]
    odd = submit(lambda: [fn(x) for x in items[1::2]])
    even = _here(lambda: [fn(x) for x in items[0::2]])
    out: list[T] = [None] * len(items)  # type: ignore[list-item]
    out[0::2] = even
    out[1::2] = odd.result()
    return out
