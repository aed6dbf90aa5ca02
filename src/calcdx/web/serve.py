"""``calcdx serve``: run the web app with uvicorn, in one process or several.

With ``workers=1`` the app runs in this process. With more, this process
settles the jobs a previous server left running, then starts that many worker
processes, each with its own app and its own listening socket on the same port
(``SO_REUSEPORT``): the kernel spreads new connections evenly over them. (A
single shared socket, as uvicorn's own ``--workers`` uses, lets whichever
worker wakes first accept a whole burst of connections, so keep-alive clients
can all end up on one worker.) Where ``SO_REUSEPORT`` does not balance (not
Linux), uvicorn's workers are used. Jobs and results live in the shared job
database and state folder, so any worker answers for any job.
"""

from __future__ import annotations

import gc
import multiprocessing
import multiprocessing.connection
import os
import signal
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from calcdx.errors import CalcdxError
from calcdx.web.settings import (
    DEFAULT_JOB_MEMORY_BYTES,
    DEFAULT_JOB_SECONDS,
    DEFAULT_MAX_UPLOAD_BYTES,
    WebSettings,
    default_state_dir,
)

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = ["SETTINGS_ENV", "freeze_startup_objects", "serve_command", "worker_app"]

#: Pending connections per listening socket (uvicorn's default).
BACKLOG: Final = 2048
#: Seconds a worker gets to finish its requests when the server stops.
STOP_SECONDS: Final = 10.0

#: Environment variable carrying the settings (JSON) to worker processes.
SETTINGS_ENV: Final = "CALCDX_WEB_SETTINGS"


def freeze_startup_objects() -> None:
    """Move everything built at start-up out of the garbage collector's sight.

    The knowledge base, engine tables and templates are some 175,000 long-lived
    objects; a full collection over them takes tens of milliseconds, a pause
    every waiting request would feel. They live as long as the process, so
    :func:`gc.freeze` leaves them out of every later collection.
    """
    gc.collect()
    gc.freeze()


def worker_app() -> FastAPI:
    """Build the app in a worker process started by uvicorn.

    uvicorn's workers are the fallback where ``SO_REUSEPORT`` does not balance.

    Returns
    -------
    FastAPI
        Built from :data:`SETTINGS_ENV`; the parent process has already settled
        the jobs a previous server left running.

    Raises
    ------
    CalcdxError
        When the variable is missing (this is not meant to be started by hand).
    """
    text = os.environ.get(SETTINGS_ENV)
    if not text:
        raise CalcdxError(f"{SETTINGS_ENV} is not set; start the server with 'calcdx serve'")
    return _build_worker_app(text)


def _build_worker_app(
    settings_json: str, on_job: Callable[[str | None], None] | None = None
) -> FastAPI:
    """A worker's app: built from the settings, jobs left to the parent, start-up frozen."""
    from calcdx.web.app import create_app

    app = create_app(WebSettings.from_json(settings_json), settle_jobs=False, on_job=on_job)
    freeze_startup_objects()
    return app


def _listening_socket(host: str, port: int) -> socket.socket:
    """A TCP socket listening on `host`:`port` with ``SO_REUSEPORT`` set.

    Raises
    ------
    CalcdxError
        When the address cannot be bound (in use, not an address of this machine).
    """
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        sock = socket.socket(family, kind, proto)
    except OSError as exc:
        raise CalcdxError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
        sock.listen(BACKLOG)
    except OSError as exc:
        sock.close()
        raise CalcdxError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}; is another server "
            "using the port? Pick another with --port"
        ) from None
    return sock


def _run_worker(
    settings_json: str, host: str, port: int, conn: multiprocessing.connection.Connection
) -> None:
    """Body of one worker process: its own app, socket and uvicorn server.

    Tells the parent over `conn` when it listens (``("ready",)``) and which job
    its runner is running (``("job", id)``, ``("job", None)``), so that the
    parent can fail that job if this process dies. A :class:`CalcdxError`
    while starting ends the process with its one-line message and status 2
    (the parent then stops the server).
    """
    import threading

    import uvicorn

    lock = threading.Lock()

    def tell(*message: object) -> None:
        with lock:
            try:
                conn.send(message)
            except OSError:
                pass  # the parent is gone; the process ends with it

    try:
        app = _build_worker_app(settings_json, on_job=lambda job_id: tell("job", job_id))
        sock = _listening_socket(host, port)
    except CalcdxError as exc:
        print(f"error: {multiprocessing.current_process().name}: {exc}", file=sys.stderr)
        sys.exit(2)
    tell("ready")
    settings = WebSettings.from_json(settings_json)
    config = uvicorn.Config(app, access_log=False, log_level="info", **_tls_options(settings))
    uvicorn.Server(config).run(sockets=[sock])


def _tls_options(settings: WebSettings) -> dict[str, Any]:
    """The certificate and key options of uvicorn, when the settings ask for HTTPS."""
    if settings.ssl_certfile is None or settings.ssl_keyfile is None:
        return {}
    return {"ssl_certfile": str(settings.ssl_certfile), "ssl_keyfile": str(settings.ssl_keyfile)}


class _Stop(Exception):
    """SIGTERM reached the parent process."""


def _raise_stop(signum: int, frame: object) -> None:
    raise _Stop


#: A worker that dies is restarted, unless this many died within RESTART_WINDOW_S.
MAX_RESTARTS: Final = 5
RESTART_WINDOW_S: Final = 60.0


class _Worker:
    """One worker process as the parent sees it."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.process: multiprocessing.process.BaseProcess | None = None
        self.conn: multiprocessing.connection.Connection | None = None
        self.ready = False
        self.job: str | None = None

    def start(self, context: Any, settings_json: str, host: str, port: int) -> None:
        receiver, sender = context.Pipe(duplex=False)
        self.process = context.Process(
            target=_run_worker, args=(settings_json, host, port, sender), name=self.name
        )
        self.process.start()
        sender.close()
        self.conn, self.ready, self.job = receiver, False, None

    def read(self) -> None:
        """Take in what the worker has told (readiness, its running job)."""
        assert self.conn is not None
        try:
            while self.conn.poll():
                message = self.conn.recv()
                if message[0] == "ready":
                    self.ready = True
                elif message[0] == "job":
                    self.job = message[1]
        except (EOFError, OSError):
            pass  # the worker is gone; its sentinel says so


def _serve_reuse_port(settings: WebSettings, host: str, port: int, workers: int) -> None:
    """Run `workers` processes, each listening on its own ``SO_REUSEPORT`` socket.

    Prints one line to stderr once every worker listens. A worker that dies
    after it started listening (killed, crashed) is restarted, and the job it
    was running is marked failed; returns when interrupted (Ctrl-C or SIGTERM),
    after stopping every worker.

    Raises
    ------
    CalcdxError
        When the port cannot be bound, a worker stops before it listens (the
        others are stopped too; its own error is in the log above), or workers
        keep dying (:data:`MAX_RESTARTS` within :data:`RESTART_WINDOW_S`).
    """
    from calcdx.web.jobs import JobStore

    _listening_socket(host, port).close()  # a clear error now rather than in N workers
    context = multiprocessing.get_context("spawn")
    settings_json = settings.to_json()
    pool = [_Worker(f"calcdx-worker-{n}") for n in range(1, workers + 1)]
    restarts: list[float] = []
    store: JobStore | None = None
    previous = signal.signal(signal.SIGTERM, _raise_stop)
    failure: str | None = None
    try:
        for worker in pool:
            worker.start(context, settings_json, host, port)
        announced = False
        while failure is None:
            waitables: list[Any] = [w.process.sentinel for w in pool if w.process is not None]
            waitables += [w.conn for w in pool if w.conn is not None]
            multiprocessing.connection.wait(waitables, timeout=0.5)
            for worker in pool:
                worker.read()
            if not announced and all(w.ready for w in pool):
                announced = True
                scheme = "https" if settings.tls else "http"
                print(
                    f"calcdx: {workers} workers listening on {scheme}://{host}:{port}",
                    file=sys.stderr,
                    flush=True,
                )
            for worker in pool:
                assert worker.process is not None
                if worker.process.is_alive():
                    continue
                worker.read()
                code = worker.process.exitcode
                if not worker.ready:
                    failure = (
                        f"{worker.name} stopped on its own (exit code {code}); the server "
                        "was stopped too; see the messages above"
                    )
                    break
                now = time.monotonic()
                restarts = [t for t in restarts if now - t < RESTART_WINDOW_S] + [now]
                if len(restarts) > MAX_RESTARTS:
                    failure = (
                        f"workers stopped {len(restarts)} times within "
                        f"{RESTART_WINDOW_S:g} s (last {worker.name}, exit code {code}); "
                        "the server was stopped; see the messages above"
                    )
                    break
                lost = worker.job
                if lost is not None:
                    if store is None:
                        store = JobStore(settings.resolved_database_url)
                    store.fail_if_running(
                        lost, f"the server process running it stopped (exit code {code}); resubmit"
                    )
                if worker.conn is not None:
                    worker.conn.close()
                worker.start(context, settings_json, host, port)
                print(
                    f"calcdx: {worker.name} stopped (exit code {code}) and was restarted"
                    + (f"; its job {lost} was marked failed" if lost else ""),
                    file=sys.stderr,
                    flush=True,
                )
    except (KeyboardInterrupt, _Stop):
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        processes = [w.process for w in pool if w.process is not None]
        for process in processes:
            if process.is_alive():
                process.terminate()  # SIGTERM: uvicorn finishes open requests
        for process in processes:
            process.join(STOP_SECONDS)
            if process.is_alive():
                process.kill()
                process.join()
        for worker in pool:
            if worker.conn is not None:
                worker.conn.close()
        if store is not None:
            store.close()
    if failure is not None:
        raise CalcdxError(failure)


def serve_command(
    host: str = "127.0.0.1",
    port: int = 8000,
    token: str | None = None,
    data_dir: Path | None = None,
    database_url: str | None = None,
    *,
    workers: int = 1,
    state_dir: Path | None = None,
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
    ssl_certfile: Path | None = None,
    ssl_keyfile: Path | None = None,
    job_memory_bytes: int = DEFAULT_JOB_MEMORY_BYTES,
    job_seconds: float = DEFAULT_JOB_SECONDS,
) -> None:
    """Serve the web app until interrupted.

    Parameters
    ----------
    host : str
        Bind address; 127.0.0.1 by default. Any other address needs `token`.
    port : int
        TCP port.
    token : str, optional
        Bearer token required on every request (pages and API).
    data_dir : Path, optional
        Folder whose studies may be named by path instead of uploaded.
    database_url : str, optional
        SQLAlchemy URL of the job store (default: SQLite in the state folder).
    workers : int
        Server processes; one per CPU core suits a busy department. Each runs
        its own study jobs, one at a time.
    state_dir : Path, optional
        Folder for the database and job files (default: ``~/.local/state/calcdx``).
    max_upload_bytes : int
        Largest upload.
    ssl_certfile, ssl_keyfile : Path, optional
        PEM certificate and private key: serve HTTPS (for any use off loopback,
        unless a TLS proxy in front of a loopback server does it).
    job_memory_bytes, job_seconds : int, float
        Address-space and wall-clock limits of each analysis process.

    Raises
    ------
    CalcdxError
        For a non-loopback `host` without a token, a `data_dir` that is not a
        folder, a bad port or worker count, a certificate and key that cannot be
        used, or a job database that cannot be opened.
    """
    import uvicorn

    from calcdx.web.app import create_app
    from calcdx.web.jobs import JobStore

    if data_dir is not None and not data_dir.is_dir():
        raise CalcdxError(f"--data-dir {data_dir}: not a folder")
    if not 0 < port < 65536:
        raise CalcdxError(f"port {port} is out of range (1 to 65535)")
    if not 1 <= workers <= 64:
        raise CalcdxError(f"--workers {workers}: give 1 to 64 (one per CPU core is typical)")
    settings = WebSettings(
        host=host,
        token=token,
        data_dir=data_dir,
        state_dir=state_dir or default_state_dir(),
        database_url=database_url,
        max_upload_bytes=max_upload_bytes,
        ssl_certfile=ssl_certfile,
        ssl_keyfile=ssl_keyfile,
        job_memory_bytes=job_memory_bytes,
        job_seconds=job_seconds,
    )
    if settings.requires_token and not settings.tls:
        print(
            f"calcdx: warning: plain HTTP on {host}: the token and the studies cross the "
            "network unencrypted; give --ssl-certfile and --ssl-keyfile, or serve on "
            "127.0.0.1 behind a TLS proxy",
            file=sys.stderr,
            flush=True,
        )
    tls = _tls_options(settings)
    # No access log: addresses can carry a token (?token=) and study ids; errors still log.
    if workers == 1:
        app = create_app(settings)
        freeze_startup_objects()
        uvicorn.run(app, host=host, port=port, access_log=False, log_level="info", **tls)
        return
    store = JobStore(settings.resolved_database_url)  # settle once, before any worker runs jobs
    try:
        store.fail_running()
    finally:
        store.close()
    if sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT"):
        _serve_reuse_port(settings, host, port, workers)
        return
    os.environ[SETTINGS_ENV] = settings.to_json()
    uvicorn.run(
        "calcdx.web.serve:worker_app",
        factory=True,
        workers=workers,
        host=host,
        port=port,
        access_log=False,
        log_level="info",
        **tls,
    )
