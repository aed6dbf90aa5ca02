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
import multiprocessing.queues
import os
import signal
import socket
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Final

from calcdx.errors import CalcdxError
from calcdx.web.settings import DEFAULT_MAX_UPLOAD_BYTES, WebSettings, default_state_dir

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


def _build_worker_app(settings_json: str) -> FastAPI:
    """A worker's app: built from the settings, jobs left to the parent, start-up frozen."""
    from calcdx.web.app import create_app

    app = create_app(WebSettings.from_json(settings_json), settle_jobs=False)
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
    settings_json: str, host: str, port: int, ready: multiprocessing.queues.SimpleQueue[str]
) -> None:
    """Body of one worker process: its own app, socket and uvicorn server.

    A :class:`CalcdxError` while starting ends the process with its one-line
    message and status 2 (the parent then stops the server).
    """
    import uvicorn

    try:
        app = _build_worker_app(settings_json)
        sock = _listening_socket(host, port)
    except CalcdxError as exc:
        print(f"error: {multiprocessing.current_process().name}: {exc}", file=sys.stderr)
        sys.exit(2)
    ready.put(multiprocessing.current_process().name)
    config = uvicorn.Config(app, access_log=False, log_level="info")
    uvicorn.Server(config).run(sockets=[sock])


class _Stop(Exception):
    """SIGTERM reached the parent process."""


def _raise_stop(signum: int, frame: object) -> None:
    raise _Stop


def _serve_reuse_port(settings: WebSettings, host: str, port: int, workers: int) -> None:
    """Run `workers` processes, each listening on its own ``SO_REUSEPORT`` socket.

    Prints one line to stderr once every worker listens. Returns when
    interrupted (Ctrl-C or SIGTERM), after stopping every worker.

    Raises
    ------
    CalcdxError
        When the port cannot be bound, or a worker stops on its own (the others
        are stopped too; its own error is in the log above).
    """
    _listening_socket(host, port).close()  # a clear error now rather than in N workers
    context = multiprocessing.get_context("spawn")
    ready: multiprocessing.queues.SimpleQueue[str] = context.SimpleQueue()
    processes = [
        context.Process(
            target=_run_worker,
            args=(settings.to_json(), host, port, ready),
            name=f"calcdx-worker-{n}",
        )
        for n in range(1, workers + 1)
    ]
    previous = signal.signal(signal.SIGTERM, _raise_stop)
    stopped: multiprocessing.process.BaseProcess | None = None
    try:
        for process in processes:
            process.start()
        listening = 0
        while stopped is None:
            # wakes when a worker exits, or every 0.2 s to see which ones listen
            multiprocessing.connection.wait([p.sentinel for p in processes], timeout=0.2)
            while not ready.empty():
                ready.get()
                listening += 1
                if listening == workers:
                    print(
                        f"calcdx: {workers} workers listening on http://{host}:{port}",
                        file=sys.stderr,
                        flush=True,
                    )
            stopped = next((p for p in processes if not p.is_alive()), None)
    except (KeyboardInterrupt, _Stop):
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        for process in processes:
            if process.is_alive():
                process.terminate()  # SIGTERM: uvicorn finishes open requests
        for process in processes:
            process.join(STOP_SECONDS)
            if process.is_alive():
                process.kill()
                process.join()
    if stopped is not None:
        raise CalcdxError(
            f"{stopped.name} stopped on its own (exit code {stopped.exitcode}); the server "
            "was stopped too; see the messages above"
        )


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

    Raises
    ------
    CalcdxError
        For a non-loopback `host` without a token, a `data_dir` that is not a
        folder, a bad port or worker count, or a job database that cannot be opened.
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
    )
    # No access log: addresses can carry a token (?token=) and study ids; errors still log.
    if workers == 1:
        app = create_app(settings)
        freeze_startup_objects()
        uvicorn.run(app, host=host, port=port, access_log=False, log_level="info")
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
    )
