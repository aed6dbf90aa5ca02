import socket
import time

import pytest

from calcdx.cli.main import main
from calcdx.errors import CalcdxError
from calcdx.web import WebSettings, create_app
from calcdx.web.jobs import STOPPED_WHILE_RUNNING, JobStore

from .conftest import nifti_bytes, wait_for_job


def test_jobs_survive_a_restart(make_app, tmp_path):
    first = make_app()
    job = first.post("/api/studies", files={"file": ("x", nifti_bytes())}).json()
    assert wait_for_job(first, job["id"])["status"] == "done"

    # a job that was running when the server stopped, and one still queued
    store = JobStore(f"sqlite:///{(tmp_path / 'state' / 'calcdx.db').as_posix()}")
    (tmp_path / "in.nii").write_bytes(nifti_bytes())
    running = store.create(tmp_path / "in.nii")
    store.mark_running(running.id)
    queued = store.create(tmp_path / "in.nii")
    store.close()

    second = make_app()  # same database file
    kept = second.get(f"/api/jobs/{job['id']}").json()
    assert kept["status"] == "done"
    assert second.get(f"/api/studies/{job['id']}/result").json()["format"] == "fake"
    stopped = second.get(f"/api/jobs/{running.id}").json()
    assert stopped["status"] == "failed"
    assert stopped["error"] == STOPPED_WHILE_RUNNING == "server stopped while running; resubmit"
    assert wait_for_job(second, queued.id)["status"] == "done"  # queued jobs run again
    listing = second.get("/studies").text
    assert job["id"][:12] in listing and running.id[:12] in listing


def test_store_records_progress(tmp_path):
    store = JobStore(f"sqlite:///{tmp_path / 'jobs.db'}")
    try:
        job = store.create(tmp_path / "input")
        store.mark_running(job.id)
        store.report(job.id, "detecting", 1.7)
        seen = store.get(job.id)
        assert seen is not None
        assert (seen.status, seen.step, seen.progress) == ("running", "detecting", 1.0)
        assert store.get("missing") is None
        assert [j.id for j in store.recent()] == [job.id]
    finally:
        store.close()


def _closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_unreachable_database_is_one_line_error(tmp_path):
    url = f"postgresql+psycopg://calcdx:s3cret@127.0.0.1:{_closed_port()}/jobs?connect_timeout=2"
    started = time.monotonic()
    with pytest.raises(CalcdxError) as caught:
        JobStore(url)
    assert time.monotonic() - started < 10
    message = str(caught.value)
    assert message.startswith("cannot open the job database postgresql+psycopg://calcdx:***@")
    assert "Connection refused" in message and "server is running" in message
    assert "\n" not in message and "s3cret" not in message
    with pytest.raises(CalcdxError, match="cannot open the job database"):
        create_app(WebSettings(state_dir=tmp_path / "state", database_url=url))


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("not a url", "not a SQLAlchemy URL"),
        ("postgresql+psycopg://u:p@127.0.0.1:port/db", "not a SQLAlchemy URL"),
        ("nosuchdb://u:s3cret@host/db", "unknown kind of database 'nosuchdb'"),
        ("postgresql+nosuchdriver://u:s3cret@host/db", "unknown kind of database"),
        ("mysql+mysqldb://u:s3cret@host/db", "driver is not installed"),
    ],
)
def test_bad_database_url_is_one_line_error(url, words):
    with pytest.raises(CalcdxError) as caught:
        JobStore(url)
    message = str(caught.value)
    assert words in message
    assert "\n" not in message and "s3cret" not in message


def test_serve_reports_an_unreachable_database(monkeypatch, capsys, tmp_path):
    def must_not_serve(*args: object, **kwargs: object) -> None:
        raise AssertionError("serve started despite the unreachable database")

    monkeypatch.setattr("uvicorn.run", must_not_serve)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    url = f"postgresql+psycopg://u:s3cret@127.0.0.1:{_closed_port()}/db?connect_timeout=2"
    assert main(["serve", "--database-url", url]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: cannot open the job database postgresql+psycopg://u:***@")
    assert err.count("\n") == 1 and "Traceback" not in err and "s3cret" not in err


def test_a_slow_job_database_does_not_stall_the_differential(make_app):
    import asyncio

    import httpx

    from .conftest import CASE

    app = make_app().app
    store = app.state.calcdx.store
    real_get = store.get

    def slow_get(job_id: str):  # a remote database taking half a second to answer
        time.sleep(0.5)
        return real_get(job_id)

    store.get = slow_get

    async def race() -> tuple[float, float]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as http:
            start = time.perf_counter()

            async def timed(call):
                response = await call
                return response, time.perf_counter() - start

            (job, job_s), (ddx, ddx_s) = await asyncio.gather(
                timed(http.get("/api/jobs/" + "0" * 32)),
                timed(http.post("/api/ddx", json=CASE)),
            )
        assert job.status_code == 404 and ddx.status_code == 200
        return job_s, ddx_s

    job_s, ddx_s = asyncio.run(race())
    assert job_s >= 0.5
    assert ddx_s < 0.4, f"POST /api/ddx waited {ddx_s:.2f} s behind the job lookup"
