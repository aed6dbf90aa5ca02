"""``calcdx serve``: run the web app with uvicorn."""

from __future__ import annotations

from pathlib import Path

from calcdx.errors import CalcdxError
from calcdx.web.settings import DEFAULT_MAX_UPLOAD_BYTES, WebSettings, default_state_dir

__all__ = ["serve_command"]


def serve_command(
    host: str = "127.0.0.1",
    port: int = 8000,
    token: str | None = None,
    data_dir: Path | None = None,
    database_url: str | None = None,
    *,
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
    state_dir : Path, optional
        Folder for the database and job files (default: ``~/.local/state/calcdx``).
    max_upload_bytes : int
        Largest upload.

    Raises
    ------
    CalcdxError
        For a non-loopback `host` without a token, or a `data_dir` that is not a folder.
    """
    import uvicorn

    from calcdx.web.app import create_app

    if data_dir is not None and not data_dir.is_dir():
        raise CalcdxError(f"--data-dir {data_dir}: not a folder")
    if not 0 < port < 65536:
        raise CalcdxError(f"port {port} is out of range (1 to 65535)")
    settings = WebSettings(
        host=host,
        token=token,
        data_dir=data_dir,
        state_dir=state_dir or default_state_dir(),
        database_url=database_url,
        max_upload_bytes=max_upload_bytes,
    )
    app = create_app(settings)
    # No access log: addresses can carry a token (?token=) and study ids; errors still log.
    uvicorn.run(app, host=host, port=port, access_log=False, log_level="info")
