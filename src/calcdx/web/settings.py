"""Settings of the web app: where it listens, who may call it, where it keeps its state."""

from __future__ import annotations

import ipaddress
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from calcdx.errors import CalcdxError
from calcdx.web.security import MIN_TOKEN_CHARS, loopback_host_names
from calcdx.web.uploads import DEFAULT_MAX_VOXELS

__all__ = [
    "DEFAULT_JOB_MEMORY_BYTES",
    "DEFAULT_JOB_SECONDS",
    "DEFAULT_MAX_EXTRACTED_BYTES",
    "DEFAULT_MAX_UPLOAD_BYTES",
    "WebSettings",
    "default_state_dir",
    "is_loopback",
]

#: Largest upload accepted by default (2 GiB): a thin-slice CT study zipped.
DEFAULT_MAX_UPLOAD_BYTES = 2 * 1024**3
#: Largest total size of a zip's contents by default (3 GiB): a 2,000-slice study
#: of 512 x 512 uncompressed 16-bit slices is 1 GiB.
DEFAULT_MAX_EXTRACTED_BYTES = 3 * 1024**3
#: Address-space limit of one analysis process (4 GiB).
DEFAULT_JOB_MEMORY_BYTES = 4 * 1024**3
#: Wall-clock limit of one analysis (30 minutes; a whole-body CT takes a few).
DEFAULT_JOB_SECONDS = 1800.0


_PATH_FIELDS = ("data_dir", "state_dir", "ssl_certfile", "ssl_keyfile")


def default_state_dir() -> Path:
    """Return ``$XDG_STATE_HOME/calcdx`` (``~/.local/state/calcdx`` by default)."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "calcdx"


def is_loopback(host: str) -> bool:
    """Tell whether `host` only accepts connections from this machine.

    Parameters
    ----------
    host : str
        A bind address (``127.0.0.1``, ``::1``, ``localhost``, ``0.0.0.0``...).

    Returns
    -------
    bool
        True for ``localhost`` and loopback addresses; False for anything else,
        including the wildcard addresses and host names.
    """
    name = host.strip().strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class WebSettings:
    """Everything :func:`calcdx.web.create_app` needs to know.

    Attributes
    ----------
    host : str
        Address the server binds; anything but loopback requires `token`.
    token : str or None
        Bearer token required on every request when set (always set for a
        non-loopback `host`).
    data_dir : Path or None
        Folder on the server whose studies may be named by path instead of
        uploaded; None disables naming server paths.
    state_dir : Path
        Where the job database (by default) and job folders live.
    database_url : str or None
        SQLAlchemy URL of the job store; None gives a SQLite file
        ``state_dir/calcdx.db``.
    max_upload_bytes : int
        Largest accepted upload, in bytes (larger ones get 413).
    max_extracted_bytes : int or None
        Largest total size of a zip's contents; None gives
        :data:`DEFAULT_MAX_EXTRACTED_BYTES`.
    max_voxels : int
        Most voxels a study's headers may declare (larger studies get 413).
    job_memory_bytes : int
        Address-space limit of each analysis process (``RLIMIT_AS``).
    job_seconds : float
        Wall-clock limit of each analysis; past it the job is stopped and failed.
    allowed_hosts : tuple of str
        Host names the server answers for besides its loopback names (a
        loopback server answers only for those; see :attr:`host_names`).
    ssl_certfile, ssl_keyfile : Path or None
        PEM certificate (chain) and private key: the server speaks HTTPS.
        Both or neither; they are loaded once here, so a bad pair is refused
        before the server starts.
    """

    host: str = "127.0.0.1"
    token: str | None = None
    data_dir: Path | None = None
    state_dir: Path = field(default_factory=default_state_dir)
    database_url: str | None = None
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES
    max_extracted_bytes: int | None = None
    max_voxels: int = DEFAULT_MAX_VOXELS
    job_memory_bytes: int = DEFAULT_JOB_MEMORY_BYTES
    job_seconds: float = DEFAULT_JOB_SECONDS
    allowed_hosts: tuple[str, ...] = ()
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None

    def __post_init__(self) -> None:
        self._check_tls()
        if self.token is not None and len(self.token.strip()) < MIN_TOKEN_CHARS:
            raise CalcdxError(
                f"the token has {len(self.token.strip())} characters; give at least "
                f"{MIN_TOKEN_CHARS} random ones (python -c 'import secrets; "
                "print(secrets.token_urlsafe())') or leave it unset on loopback"
            )
        if self.requires_token and self.token is None:
            raise CalcdxError(
                f"binding {self.host} accepts connections from other machines; give a token "
                "(--token or CALCDX_TOKEN) or bind 127.0.0.1"
            )
        if min(self.max_upload_bytes, self.max_voxels, self.job_memory_bytes) <= 0:
            raise CalcdxError("max_upload_bytes, max_voxels and job_memory_bytes must be positive")
        if self.job_seconds <= 0:
            raise CalcdxError("job_seconds must be positive")

    def _check_tls(self) -> None:
        if self.ssl_certfile is None and self.ssl_keyfile is None:
            return
        if self.ssl_certfile is None or self.ssl_keyfile is None:
            raise CalcdxError("give both --ssl-certfile and --ssl-keyfile, or neither")
        import ssl

        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        try:
            context.load_cert_chain(self.ssl_certfile, self.ssl_keyfile)
        except (OSError, ssl.SSLError) as exc:
            reason = getattr(exc, "strerror", None) or getattr(exc, "reason", None) or exc
            raise CalcdxError(
                f"cannot use the TLS certificate {self.ssl_certfile.name} with the key "
                f"{self.ssl_keyfile.name} ({reason}); give a PEM certificate and its "
                "unencrypted PEM private key"
            ) from None

    @property
    def tls(self) -> bool:
        """True when the server speaks HTTPS."""
        return self.ssl_certfile is not None

    def to_json(self) -> str:
        """The settings as JSON, for worker processes (see :meth:`from_json`)."""
        fields: dict[str, Any] = asdict(self)
        for name in _PATH_FIELDS:
            if fields[name] is not None:
                fields[name] = str(fields[name])
        return json.dumps(fields)

    @classmethod
    def from_json(cls, text: str) -> WebSettings:
        """Settings written by :meth:`to_json` (validated again)."""
        fields = json.loads(text)
        for name in _PATH_FIELDS:
            if fields.get(name) is not None:
                fields[name] = Path(fields[name])
        fields["allowed_hosts"] = tuple(fields.get("allowed_hosts", ()))
        return cls(**fields)

    @property
    def requires_token(self) -> bool:
        """True when the bind address is not loopback."""
        return not is_loopback(self.host)

    @property
    def host_names(self) -> frozenset[str] | None:
        """Host names accepted in the ``Host`` header; None accepts any.

        A loopback server answers only for its loopback names (and
        `allowed_hosts`), which defeats DNS rebinding. A server bound off
        loopback requires a token and answers for any name unless
        `allowed_hosts` is given.
        """
        extra = {name.strip().lower() for name in self.allowed_hosts if name.strip()}
        if not self.requires_token:
            return loopback_host_names() | extra
        if extra:
            return frozenset(extra | {self.host.strip().lower()})
        return None

    @property
    def resolved_database_url(self) -> str:
        """The job store's SQLAlchemy URL (the SQLite default spelled out)."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.state_dir / 'calcdx.db').as_posix()}"

    @property
    def jobs_dir(self) -> Path:
        """Folder holding one sub-folder per job (inputs and outputs)."""
        return self.state_dir / "jobs"

    @property
    def extracted_limit(self) -> int:
        """Largest total size of a zip's extracted contents, in bytes."""
        if self.max_extracted_bytes is not None:
            return self.max_extracted_bytes
        return DEFAULT_MAX_EXTRACTED_BYTES
