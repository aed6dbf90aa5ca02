"""Running one piece of heavy work in a child process with memory and time limits.

A study analysis (or the slice viewer's preparation of a study) can need
gigabytes and minutes. It runs in a fresh Python process (started anew, not
forked: nothing of the server's threads, locks or database connections is
inherited, and the server's own main script is not imported again) whose
address space is capped with ``RLIMIT_AS``; the parent waits for it at most
the wall-clock limit, then stops it. Whatever happens in the child, the parent
gets either the target's return value or a :class:`CalcdxError` whose one-line
message says what went wrong, and the server process itself never allocates
the work's memory. A child whose parent dies is killed too (Linux
``PR_SET_PDEATHSIG``, and a watch on the parent's pid elsewhere).

The target must be picklable (a module-level function) and its arguments and
return value too; it receives a ``send(*message)`` callable as its last
argument for progress messages, which reach the parent's `on_message`.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from calcdx.errors import CalcdxError

__all__ = ["ChildCrashed", "LimitExceeded", "Limits", "run_limited"]

#: Seconds a stopped child gets to exit after SIGTERM before SIGKILL.
_GRACE_SECONDS: Final = 2.0


@dataclass(frozen=True)
class Limits:
    """Limits of one child process.

    Attributes
    ----------
    memory_bytes : int
        Address-space limit (``RLIMIT_AS``).
    seconds : float
        Wall-clock limit; past it the child is stopped.
    """

    memory_bytes: int
    seconds: float


class LimitExceeded(CalcdxError):
    """The work went over its memory or time limit."""


class ChildCrashed(RuntimeError):
    """The work raised an unexpected exception (only its type is kept) or the child died."""


def _gib(n: int) -> str:
    return f"{n / 1024**3:.1f} GiB" if n >= 1024**3 else f"{n / 1024**2:.0f} MiB"


def memory_message(limits: Limits, what: str) -> str:
    """The one-line error of work that ran out of its memory limit."""
    return (
        f"{what} needed more memory than its limit of {_gib(limits.memory_bytes)}; crop or "
        "resample the study, or raise the server's job memory limit"
    )


def _watch_parent(parent: int) -> None:
    """End this process when its parent is gone (where PR_SET_PDEATHSIG is not available)."""
    while True:
        time.sleep(0.5)
        if os.getppid() != parent:
            os._exit(1)


def _die_with_parent(parent: int) -> None:
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:  # the parent died before prctl took effect (or before we ran)
        os._exit(1)
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()


def _child_main(
    conn: multiprocessing.connection.Connection,
    parent: int,
    memory_bytes: int,
    target: Callable[..., Any],
    args: tuple[Any, ...],
) -> None:
    """Body of the child: limit, run, send back ``(kind, ...)``."""
    import resource

    _die_with_parent(parent)
    try:
        _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        limit = memory_bytes if hard == resource.RLIM_INFINITY else min(memory_bytes, hard)
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    except (ValueError, OSError):
        pass

    def send(*message: Any) -> None:
        conn.send(("message", *message))

    try:
        value = target(*args, send)
    except MemoryError:
        outcome: tuple[Any, ...] = ("memory",)
    except CalcdxError as exc:
        outcome = ("calcdx", type(exc).__name__, str(exc))
    except ImportError:  # a library could not be mapped into the limited address space
        outcome = ("memory",)
    except BaseException as exc:  # the parent records it as unexpected
        outcome = ("crash", type(exc).__name__)
    else:
        outcome = ("ok", value)
    try:
        conn.send(outcome)
    except MemoryError:
        conn.send(("memory",))
    except OSError:
        pass  # the parent is gone: nobody to tell
    conn.close()


def _child_entry(fd: int) -> None:
    """Start of the child process: take the work from the parent over `fd`, do it."""
    conn = multiprocessing.connection.Connection(fd)
    parent, memory_bytes, target, args = conn.recv()
    _child_main(conn, parent, memory_bytes, target, args)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
    process.wait()


def _signal_name(code: int) -> str:
    try:
        return signal.Signals(-code).name
    except ValueError:
        return f"signal {-code}"


def run_limited(
    target: Callable[..., Any],
    args: tuple[Any, ...],
    limits: Limits,
    *,
    what: str = "the analysis",
    on_message: Callable[..., None] | None = None,
    on_start: Callable[[subprocess.Popen[bytes]], None] | None = None,
) -> Any:
    """Run ``target(*args, send)`` in a child process within `limits`.

    Parameters
    ----------
    target : callable
        A picklable function; its last argument is ``send(*message)``.
    args : tuple
        Its other (picklable) arguments.
    limits : Limits
        Memory and time limits.
    what : str
        What the work is, for error messages ("the analysis").
    on_message : callable, optional
        Called in this process with each message the child sends. When it
        raises, the child is stopped and the exception propagates.
    on_start : callable, optional
        Called with the started process (so that a caller can stop it).

    Returns
    -------
    Any
        The target's return value.

    Raises
    ------
    LimitExceeded
        When the child needed more memory than allowed or ran out of time.
    CalcdxError
        When the target raised one (its message is kept, its type is not).
    ChildCrashed
        When the target raised anything else, or the child died.
    """
    receiver, sender = multiprocessing.Pipe(duplex=True)
    # the child finds every module this process can (a test's folder, a source checkout)
    path = os.pathsep.join(entry for entry in sys.path if entry)
    start = f"from calcdx.web.isolate import _child_entry; _child_entry({sender.fileno()})"
    try:
        process = subprocess.Popen(
            [sys.executable, "-c", start],
            pass_fds=[sender.fileno()],
            env=os.environ | {"PYTHONPATH": path},
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C at the server's terminal is the server's to handle
        )
    finally:
        sender.close()
    try:
        receiver.send((os.getpid(), limits.memory_bytes, target, args))
    except BaseException:
        receiver.close()
        _stop(process)
        raise
    if on_start is not None:
        on_start(process)
    deadline = time.monotonic() + limits.seconds
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise LimitExceeded(
                    f"{what} took longer than its limit of {limits.seconds:g} s and was "
                    "stopped; crop the study, or raise the server's job time limit"
                )
            if not receiver.poll(min(remaining, 0.5)):
                if process.poll() is not None and not receiver.poll(0):
                    break
                continue
            try:
                message = receiver.recv()
            except (EOFError, OSError):
                break  # the child is gone without a last word
            kind = message[0]
            if kind == "message":
                if on_message is not None:
                    on_message(*message[1:])
                continue
            if kind == "ok":
                return message[1]
            if kind == "memory":
                raise LimitExceeded(memory_message(limits, what))
            if kind == "calcdx":
                raise CalcdxError(message[2])
            raise ChildCrashed(message[1])
    finally:
        receiver.close()
        _stop(process)
    code = process.returncode if process.returncode is not None else 0
    if code < 0:
        name = _signal_name(code)
        raise ChildCrashed(
            f"its process ended by {name}; it may have needed more than its memory limit of "
            f"{_gib(limits.memory_bytes)}"
        )
    raise ChildCrashed(f"its process exited with status {code}")
