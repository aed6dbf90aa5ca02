"""The job store against a real PostgreSQL server: test_web_jobstore.py's behaviours, and more.

Set CALCDX_TEST_POSTGRES_URL to a database where the tests may create schemas
(``postgresql+psycopg://user:password@127.0.0.1:port/db``); each test gets a schema of
its own, dropped afterwards. ``.ci/run`` starts a throwaway server and sets it; locally,
``.ci/postgres.sh .venv/bin/pytest -q tests/web`` does the same (Debian's ``postgresql``
package). Without the variable these tests skip, or fail when CALCDX_REQUIRE_POSTGRES=1.
"""

import os
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from calcdx.errors import CalcdxError
from calcdx.web.jobs import STOPPED_WHILE_RUNNING, JobStore

from .conftest import nifti_bytes, wait_for_job

URL_VARIABLE = "CALCDX_TEST_POSTGRES_URL"
REQUIRE_VARIABLE = "CALCDX_REQUIRE_POSTGRES"
NOT_SET = (
    f"{URL_VARIABLE} is not set; run '.ci/postgres.sh .venv/bin/pytest -q tests/web' "
    "(needs Debian's postgresql package) or point it at a PostgreSQL database"
)

if not os.environ.get(URL_VARIABLE, "").strip() and os.environ.get(REQUIRE_VARIABLE) != "1":
    pytest.skip(NOT_SET, allow_module_level=True)  # one line in the summary, not one per test


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """The configured PostgreSQL URL; fails without one when CALCDX_REQUIRE_POSTGRES=1."""
    url = os.environ.get(URL_VARIABLE, "").strip()
    if not url:
        pytest.fail(f"{REQUIRE_VARIABLE}=1 but {NOT_SET}")
    return url


@pytest.fixture
def pg_url(postgres_server: str) -> Iterator[str]:
    """A URL whose connections work in a fresh, empty schema (dropped afterwards)."""
    schema = f"calcdx_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(postgres_server, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        url = make_url(postgres_server).update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False)
        with admin.connect() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    finally:
        admin.dispose()


@pytest.fixture
def store(pg_url: str) -> Iterator[JobStore]:
    opened = JobStore(pg_url)
    yield opened
    opened.close()


def test_tables_live_in_the_test_schema(store, pg_url):
    schema = make_url(pg_url).query["options"].split("=", 1)[1]
    assert store.engine.dialect.name == "postgresql"
    with store.engine.connect() as connection:
        assert connection.execute(text("SELECT current_schema()")).scalar() == schema
        found = connection.execute(
            text("SELECT table_schema FROM information_schema.tables WHERE table_name = 'jobs'")
        ).scalars()
        assert schema in list(found)
    assert store.recent() == []  # nothing left over from other tests


def test_store_records_progress(store, tmp_path):
    job = store.create(tmp_path / "input")
    assert (job.status, job.progress, job.input_path) == ("queued", 0.0, tmp_path / "input")
    store.mark_running(job.id)
    store.report(job.id, "detecting", 1.7)
    seen = store.get(job.id)
    assert seen is not None
    assert (seen.status, seen.step, seen.progress) == ("running", "detecting", 1.0)
    store.report(job.id, "x" * 200, -0.5)  # the step column holds 64 characters
    seen = store.get(job.id)
    assert seen is not None
    assert (seen.step, seen.progress) == ("x" * 64, 0.0)
    assert seen.updated >= seen.created
    assert store.get("missing") is None
    assert store.get("bad\x00id") is None  # PostgreSQL refuses NUL in text
    assert [j.id for j in store.recent()] == [job.id]


def test_done_and_failed(store, tmp_path):
    done = store.create(tmp_path / "a")
    store.mark_running(done.id)
    store.mark_done(done.id, tmp_path / "a" / "result.json")
    failed = store.create(tmp_path / "b", job_id=store.new_id())
    store.mark_running(failed.id)
    store.mark_failed(failed.id, "the study has no CT slices " + "é" * 500)

    seen = store.get(done.id)
    assert seen is not None
    assert (seen.status, seen.step, seen.progress, seen.error) == ("done", "done", 1.0, None)
    assert seen.result_path == tmp_path / "a" / "result.json"
    seen = store.get(failed.id)
    assert seen is not None
    assert seen.status == "failed"
    assert seen.error == "the study has no CT slices " + "é" * 500
    assert seen.result_path is None

    store.mark_failed(failed.id, "tag value 'CT\x00' is padded")  # NUL: refused by PostgreSQL
    seen = store.get(failed.id)
    assert seen is not None and seen.error == "tag value 'CT' is padded"


def test_recent_is_newest_first_and_limited(store, tmp_path):
    ids = []
    for name in "abc":
        ids.append(store.create(tmp_path / name).id)
        time.sleep(0.005)  # creation times have millisecond resolution
    assert [j.id for j in store.recent()] == ids[::-1]
    assert [j.id for j in store.recent(limit=2)] == ids[:0:-1]
    assert [j.id for j in store.recent(limit=2, offset=2)] == ids[:1]
    assert store.count() == 3


def test_only_a_running_job_is_failed_for_a_dead_worker(store, tmp_path):
    queued, running = store.create(tmp_path / "q"), store.create(tmp_path / "r")
    assert store.claim(running.id)
    assert not store.fail_if_running(queued.id, "worker stopped")
    assert store.fail_if_running(running.id, "worker stopped")
    assert not store.fail_if_running(running.id, "again")
    seen = store.get(running.id)
    assert seen is not None and (seen.status, seen.error) == ("failed", "worker stopped")
    assert store.get(queued.id).status == "queued"


def test_recover_fails_running_jobs_and_returns_queued_ones(pg_url, tmp_path):
    first = JobStore(pg_url)
    queued = []
    try:
        running = first.create(tmp_path / "r")
        first.mark_running(running.id)
        done = first.create(tmp_path / "d")
        first.mark_done(done.id, tmp_path / "d" / "result.json")
        for name in "qp":
            time.sleep(0.005)
            queued.append(first.create(tmp_path / name).id)
    finally:
        first.close()

    second = JobStore(pg_url)  # a new server process: the table exists already
    try:
        assert second.recover() == queued  # oldest first
        stopped = second.get(running.id)
        assert stopped is not None
        assert (stopped.status, stopped.error) == ("failed", STOPPED_WHILE_RUNNING)
        kept = second.get(done.id)
        assert kept is not None and kept.status == "done"
        assert second.recover() == queued  # nothing else changes
    finally:
        second.close()


def test_store_is_shared_by_threads(store, tmp_path):
    def work(n: int) -> str:
        job = store.create(tmp_path / f"in{n}")
        store.mark_running(job.id)
        for step in range(5):
            store.report(job.id, f"step {step} on {threading.current_thread().name}", step / 4)
        store.mark_done(job.id, tmp_path / f"in{n}" / "result.json")
        return job.id

    with ThreadPoolExecutor(max_workers=8) as pool:
        ids = list(pool.map(work, range(40)))
    assert len(set(ids)) == 40
    statuses = {job.id: job.status for job in store.recent(limit=100)}
    assert statuses == dict.fromkeys(ids, "done")


def test_jobs_survive_a_restart(pg_url, make_app, tmp_path):
    first = make_app(database_url=pg_url)
    job = first.post("/api/studies", files={"file": ("x", nifti_bytes())}).json()
    assert wait_for_job(first, job["id"])["status"] == "done"
    assert first.get("/api/jobs/%00").status_code == 404

    # a job that was running when the server stopped, and one still queued
    store = JobStore(pg_url)
    (tmp_path / "in.nii").write_bytes(nifti_bytes())
    running = store.create(tmp_path / "in.nii")
    store.mark_running(running.id)
    queued = store.create(tmp_path / "in.nii")
    store.close()

    second = make_app(database_url=pg_url)  # same database
    assert not (tmp_path / "state" / "calcdx.db").exists()  # no SQLite on the side
    kept = second.get(f"/api/jobs/{job['id']}").json()
    assert kept["status"] == "done"
    assert second.get(f"/api/studies/{job['id']}/result").json()["format"] == "fake"
    stopped = second.get(f"/api/jobs/{running.id}").json()
    assert stopped["status"] == "failed"
    assert stopped["error"] == STOPPED_WHILE_RUNNING
    assert wait_for_job(second, queued.id)["status"] == "done"  # queued jobs run again
    listing = second.get("/studies").text
    assert job["id"][:12] in listing and running.id[:12] in listing


def test_wrong_password_is_one_line(postgres_server):
    url = make_url(postgres_server).set(password="not-the-password")
    with pytest.raises(CalcdxError) as caught:
        JobStore(url.render_as_string(hide_password=False))
    message = str(caught.value)
    assert "\n" not in message and "not-the-password" not in message
    assert "password authentication failed" in message
    assert f"/{url.database}" in message
