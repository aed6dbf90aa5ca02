"""calcdx._threads: steps split over two cores give the values of running them in turn."""

import threading

import pytest

from calcdx import _threads


@pytest.mark.parametrize("threads", ["1", "2"])
def test_map_split_keeps_the_order_and_runs_every_item_once(monkeypatch, threads):
    monkeypatch.setenv("CALCDX_THREADS", threads)
    seen: list[int] = []
    lock = threading.Lock()

    def square(x: int) -> int:
        with lock:
            seen.append(x)
        return x * x

    items = list(range(11))
    assert _threads.map_split(square, items) == [x * x for x in items]
    assert sorted(seen) == items
    assert _threads.map_split(square, []) == []


def test_two_threads_use_the_pool_and_nested_steps_run_at_once(monkeypatch):
    monkeypatch.setenv("CALCDX_THREADS", "2")
    names: list[str] = []

    def inner() -> str:
        # within a split step: run here at once, never queued behind the other share
        return threading.current_thread().name

    def outer(x: int) -> tuple[str, str]:
        here = threading.current_thread().name
        names.append(here)
        return here, _threads.submit(inner).result()

    out = _threads.map_split(outer, [0, 1, 2, 3])
    assert all(a == b for a, b in out)
    assert any(n.startswith("calcdx-pool") for n in names)
    assert any(not n.startswith("calcdx-pool") for n in names)


def test_one_thread_runs_everything_in_the_calling_thread(monkeypatch):
    monkeypatch.setenv("CALCDX_THREADS", "1")
    me = threading.current_thread().name
    assert _threads.submit(lambda: threading.current_thread().name).result() == me
    assert _threads.run_both(lambda: 1, lambda: threading.current_thread().name) == (1, me)


def test_a_step_error_reaches_the_caller(monkeypatch):
    monkeypatch.setenv("CALCDX_THREADS", "2")

    def boom() -> None:
        raise ValueError("bad step")

    with pytest.raises(ValueError, match="bad step"):
        _threads.submit(boom).result()


def test_a_bad_thread_count_names_the_fix(monkeypatch):
    monkeypatch.setenv("CALCDX_THREADS", "two")
    with pytest.raises(ValueError, match="CALCDX_THREADS must be a whole number"):
        _threads.n_threads()
