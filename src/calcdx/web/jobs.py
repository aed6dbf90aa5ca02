"""The job store: study analysis jobs in a SQL database (SQLite by default, or PostgreSQL).

Jobs survive a restart. A job that was ``running`` when the server stopped is
marked ``failed`` with "server stopped while running; resubmit" when the store
is opened again; ``queued`` jobs are handed back to be run.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, Literal

from sqlalchemy import Float, String, Text, create_engine, func, select, update
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from calcdx.errors import CalcdxError

__all__ = ["CONNECT_TIMEOUT_SECONDS", "STOPPED_WHILE_RUNNING", "Job", "JobStatus", "JobStore"]

JobStatus = Literal["queued", "running", "done", "failed"]

#: Error of a job that was running when the server stopped.
STOPPED_WHILE_RUNNING: Final = "server stopped while running; resubmit"

#: Seconds to wait for a database server to answer, unless the URL says otherwise
#: (``?connect_timeout=``); libpq alone would wait for as long as the network does.
CONNECT_TIMEOUT_SECONDS: Final = 10

_URL_SHAPE: Final = "dialect+driver://user:password@host:port/database"


class _Base(DeclarativeBase):
    pass


class _JobRow(_Base):
    __tablename__ = "jobs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    created: Mapped[str] = mapped_column(String(40))
    updated: Mapped[str] = mapped_column(String(40))
    input_path: Mapped[str] = mapped_column(Text)
    result_path: Mapped[str | None] = mapped_column(Text, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    step: Mapped[str | None] = mapped_column(String(64), nullable=True)
    progress: Mapped[float] = mapped_column(Float, default=0.0)


@dataclass(frozen=True)
class Job:
    """A snapshot of one job.

    Attributes
    ----------
    id : str
        Random hexadecimal id.
    status : str
        ``queued``, ``running``, ``done`` or ``failed``.
    created, updated : str
        ISO 8601 UTC times.
    input_path : Path
        The stored input (a folder of DICOM files or a NIfTI file).
    result_path : Path or None
        ``result.json`` once done.
    error : str or None
        One-line reason once failed.
    step : str or None
        The analysis step last reported.
    progress : float
        Fraction done, 0 to 1.
    """

    id: str
    status: JobStatus
    created: str
    updated: str
    input_path: Path
    result_path: Path | None
    error: str | None
    step: str | None
    progress: float


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _job(row: _JobRow) -> Job:
    status: Any = row.status
    return Job(
        id=row.id,
        status=status,
        created=row.created,
        updated=row.updated,
        input_path=Path(row.input_path),
        result_path=Path(row.result_path) if row.result_path else None,
        error=row.error,
        step=row.step,
        progress=row.progress,
    )


def _libpq(url: URL) -> bool:
    """Tell whether `url` connects through libpq (which takes ``connect_timeout``)."""
    if url.get_backend_name() != "postgresql":
        return False
    try:
        return url.get_driver_name() in {"psycopg", "psycopg2"}
    except SQLAlchemyError:
        return False


def _reason(exc: Exception) -> str:
    """The first line of the database's own message (without SQLAlchemy's decorations)."""
    cause: BaseException = exc
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        cause = exc.orig
    lines = [line.strip() for line in str(cause).splitlines() if line.strip()]
    return lines[0] if lines else type(cause).__name__


class JobStore:
    """Jobs in a SQL database.

    Parameters
    ----------
    database_url : str
        SQLAlchemy URL (``sqlite:///path/calcdx.db``, ``postgresql+psycopg://...``).
        The parent folder of a SQLite file is created. Other databases get a
        connection timeout of :data:`CONNECT_TIMEOUT_SECONDS` unless the URL sets
        ``connect_timeout``, and every pooled connection is checked before use (a
        database server restart does not break the next request).

    Raises
    ------
    CalcdxError
        When the URL cannot be parsed, names a database driver that is not installed,
        or the database cannot be reached or its ``jobs`` table cannot be created; the
        one-line message shows the URL without its password.
    """

    def __init__(self, database_url: str) -> None:
        kwargs: dict[str, Any] = {}
        try:
            url = make_url(database_url)
        except (ArgumentError, ValueError):
            raise CalcdxError(
                f"the job database URL is not a SQLAlchemy URL ({_URL_SHAPE}, "
                "or sqlite:///path/calcdx.db)"
            ) from None
        shown = url.render_as_string(hide_password=True)
        if url.get_backend_name() == "sqlite":
            kwargs["connect_args"] = {"check_same_thread": False}
            path = database_url.split(":///", 1)[-1]
            if path and path != ":memory:":
                try:
                    Path(path).parent.mkdir(parents=True, exist_ok=True)
                except OSError as exc:
                    raise CalcdxError(
                        f"job database {shown}: cannot create its folder ({exc.strerror})"
                    ) from None
        else:
            kwargs["pool_pre_ping"] = True
            if _libpq(url) and "connect_timeout" not in url.query:
                kwargs["connect_args"] = {"connect_timeout": CONNECT_TIMEOUT_SECONDS}
        try:
            self.engine: Engine = create_engine(url, **kwargs)
        except NoSuchModuleError:
            raise CalcdxError(
                f"job database {shown}: unknown kind of database {url.drivername!r}; "
                "write sqlite:///path/calcdx.db or postgresql+psycopg://..."
            ) from None
        except ImportError as exc:
            raise CalcdxError(
                f"job database {shown}: its driver is not installed ({exc}); for PostgreSQL "
                "write postgresql+psycopg://..., the driver calcdx installs"
            ) from None
        except (SQLAlchemyError, ValueError) as exc:
            raise CalcdxError(f"job database {shown}: {_reason(exc)}") from None
        try:
            _Base.metadata.create_all(self.engine)
        except (SQLAlchemyError, ValueError) as exc:
            self.engine.dispose()
            check = (
                "that its folder is writable"
                if url.get_backend_name() == "sqlite"
                else "that the database server is running"
            )
            raise CalcdxError(
                f"cannot open the job database {shown}: {_reason(exc)}; check the URL "
                f"(--database-url) and {check}"
            ) from None
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    def close(self) -> None:
        """Release the database connections."""
        self.engine.dispose()

    def _session(self) -> Session:
        return self._sessions()

    def create(self, input_path: Path, job_id: str | None = None) -> Job:
        """Record a new queued job.

        Parameters
        ----------
        input_path : Path
            The stored input.
        job_id : str, optional
            Id to use (default: a new random one).

        Returns
        -------
        Job
        """
        now = _now()
        row = _JobRow(
            id=job_id or uuid.uuid4().hex,
            status="queued",
            created=now,
            updated=now,
            input_path=str(input_path),
            progress=0.0,
        )
        with self._session() as session, session.begin():
            session.add(row)
        return _job(row)

    @staticmethod
    def new_id() -> str:
        """A new random job id."""
        return uuid.uuid4().hex

    def get(self, job_id: str) -> Job | None:
        """Return the job, or None when there is no such job."""
        if "\x00" in job_id:  # PostgreSQL rejects NUL in text; no id contains one
            return None
        with self._session() as session:
            row = session.get(_JobRow, job_id)
            return _job(row) if row is not None else None

    def recent(self, limit: int = 50, offset: int = 0) -> list[Job]:
        """The most recent jobs, newest first, skipping the `offset` newest."""
        query = (
            select(_JobRow)
            .order_by(_JobRow.created.desc(), _JobRow.id)
            .offset(offset)
            .limit(limit)
        )
        with self._session() as session:
            return [_job(row) for row in session.scalars(query)]

    def count(self) -> int:
        """How many jobs the store holds."""
        with self._session() as session:
            return int(session.scalar(select(func.count()).select_from(_JobRow)) or 0)

    def _set(self, job_id: str, **values: Any) -> None:
        # PostgreSQL refuses NUL in text; steps and errors may quote raw file contents.
        values = {k: v.replace("\x00", "") if isinstance(v, str) else v for k, v in values.items()}
        values["updated"] = _now()
        with self._session() as session, session.begin():
            session.execute(update(_JobRow).where(_JobRow.id == job_id).values(**values))

    def mark_running(self, job_id: str) -> None:
        """The job has started (unconditionally; a runner uses :meth:`claim`)."""
        self._set(job_id, status="running", step="starting", progress=0.0)

    def claim(self, job_id: str) -> bool:
        """Mark a queued job running, atomically.

        Several server processes may offer to run the same queued job (each picks
        up the queued jobs when it starts); only the one whose update finds the
        job still queued runs it.

        Returns
        -------
        bool
            True when this call moved the job from queued to running.
        """
        return self._move(job_id, "queued", status="running", step="starting", progress=0.0)

    def _move(self, job_id: str, current: str, **values: Any) -> bool:
        """Set `values` on the job if its status is `current`, atomically; tell whether it was."""
        values["updated"] = _now()
        with self._session() as session, session.begin():
            outcome = session.execute(
                update(_JobRow)
                .where(_JobRow.id == job_id, _JobRow.status == current)
                .values(**values)
            )
            return bool(getattr(outcome, "rowcount", 0) == 1)

    def report(self, job_id: str, step: str, fraction: float) -> None:
        """Record progress of a running job."""
        self._set(job_id, step=step[:64], progress=min(max(fraction, 0.0), 1.0))

    def mark_done(self, job_id: str, result_path: Path) -> None:
        """The job finished and wrote `result_path`."""
        self._set(job_id, status="done", result_path=str(result_path), step="done", progress=1.0)

    def mark_failed(self, job_id: str, error: str) -> None:
        """The job failed with the one-line reason `error`."""
        self._set(job_id, status="failed", error=error)

    def fail_if_running(self, job_id: str, error: str) -> bool:
        """Mark the job failed with `error` if it is still running.

        Returns
        -------
        bool
            True when the job was running and is now failed.
        """
        return self._move(job_id, "running", status="failed", error=error.replace("\x00", ""))

    def recover(self) -> list[str]:
        """Settle jobs left by a previous server process.

        Running jobs are marked failed (:data:`STOPPED_WHILE_RUNNING`): call this
        only when no other process is running jobs from this store.

        Returns
        -------
        list of str
            Ids of queued jobs, oldest first, to run again.
        """
        self.fail_running()
        return self.queued()

    def fail_running(self) -> None:
        """Mark every running job failed (:data:`STOPPED_WHILE_RUNNING`)."""
        with self._session() as session, session.begin():
            session.execute(
                update(_JobRow)
                .where(_JobRow.status == "running")
                .values(status="failed", error=STOPPED_WHILE_RUNNING, updated=_now())
            )

    def queued(self) -> list[str]:
        """Ids of the queued jobs, oldest first."""
        query = select(_JobRow.id).where(_JobRow.status == "queued").order_by(_JobRow.created)
        with self._session() as session:
            return list(session.scalars(query))
