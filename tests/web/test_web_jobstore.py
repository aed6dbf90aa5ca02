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
