"""Jobs in child processes within memory, time limits; jobs end recorded if the database fails."""

import importlib
import os
import time
from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError

from calcdx.web.runner import public_message

from .conftest import CASE, ct_like, fake_analysis, nifti_bytes, wait_for_job


@pytest.fixture
def fakes(monkeypatch):
    """The module of child-process analyses, importable by a spawned child."""
    monkeypatch.syspath_prepend(str(Path(__file__).parent))
    return importlib.import_module("jobfakes")


def upload(client, data: bytes | None = None) -> str:
    data = nifti_bytes() if data is None else data
    response = client.post(
        "/api/studies", files={"file": ("ct.nii", data, "application/octet-stream")}
    )
    assert response.status_code == 202, response.text
    return response.json()["id"]


def test_job_runs_in_a_child_process(make_app, fakes):
    client = make_app(fakes.works, isolate_jobs=True)
    job = wait_for_job(client, upload(client), timeout=60)
    assert job["status"] == "done", job
    result = client.get(f"/api/studies/{job['id']}/result").json()
    assert result["pid"] != os.getpid()


def test_job_over_its_memory_limit_fails_and_the_server_stays_up(make_app, fakes):
    client = make_app(fakes.hungry, isolate_jobs=True, job_memory_bytes=1024**3)
    job = wait_for_job(client, upload(client), timeout=60)
    assert job["status"] == "failed"
    assert "needed more memory than its limit of 1.0 GiB" in job["error"]
    assert client.post("/api/ddx", json=CASE).status_code == 200
    # the runner goes on with the next job
    client.app.state.calcdx.runner.run_analysis = fakes.works
    assert wait_for_job(client, upload(client), timeout=60)["status"] == "done"


def test_job_over_its_time_limit_is_stopped_and_fails(make_app, fakes):
    client = make_app(fakes.sleepy, isolate_jobs=True, job_seconds=3.0)
    start = time.monotonic()
    job = wait_for_job(client, upload(client), timeout=60)
    assert job["status"] == "failed"
    assert "took longer than its limit of 3 s" in job["error"]
    assert time.monotonic() - start < 30  # not the minute the analysis wanted


def test_killed_child_fails_its_job(make_app, fakes):
    client = make_app(fakes.killed, isolate_jobs=True)
    job = wait_for_job(client, upload(client), timeout=60)
    assert job["status"] == "failed"
    assert "SIGKILL" in job["error"]
    assert client.get("/api/kb").status_code == 200


def test_job_errors_show_no_absolute_server_path(make_app, fakes, tmp_path):
    client = make_app(fakes.names_its_input, isolate_jobs=True)
    job = wait_for_job(client, upload(client), timeout=60)
    assert job["status"] == "failed"
    assert "is not a DICOM image file" in job["error"]
    assert "000003.dcm" in job["error"]
    assert str(tmp_path) not in job["error"] and "/state/" not in job["error"]
    assert not any(part.startswith("/") for part in job["error"].split())


def test_public_message_names_roots_and_shortens_other_paths(tmp_path):
    root = tmp_path / "jobs" / "abc" / "input"
    line = public_message(f"{root}/x/0001.dcm: bad\nsecond line /etc/passwd", (root, "the upload"))
    assert line == "the upload/x/0001.dcm: bad"
    assert public_message("cannot read /srv/data/ct/a.nii.gz (truncated)") == (
        "cannot read a.nii.gz (truncated)"
    )
    assert public_message("ratio 3/4 at 0.5 mm/s") == "ratio 3/4 at 0.5 mm/s"
    assert public_message("see http://127.0.0.1:8000/docs (/var/x/y.log)") == (
        "see http://127.0.0.1:8000/docs (y.log)"
    )


def _db_down(*args, **kwargs):
    raise OperationalError("UPDATE jobs", {}, Exception("disk I/O error"))


def test_database_failure_mid_job_marks_it_failed(make_app, monkeypatch):
    client = make_app()
    store = client.app.state.calcdx.store
    report = store.report
    calls = []

    def failing_report(job_id, step, fraction):
        calls.append(step)
        if len(calls) == 2:
            _db_down()
        report(job_id, step, fraction)

    monkeypatch.setattr(store, "report", failing_report)
    job = wait_for_job(client, upload(client))
    assert job["status"] == "failed"
    assert "job database could not be written" in job["error"]
    assert calls == ["reading", "detecting"]  # the analysis stopped at the failed write


def test_database_failure_in_child_job_stops_the_child(make_app, fakes, monkeypatch):
    client = make_app(fakes.sleepy, isolate_jobs=True)
    monkeypatch.setattr(client.app.state.calcdx.store, "report", _db_down)
    start = time.monotonic()
    job = wait_for_job(client, upload(client), timeout=60)
    assert job["status"] == "failed"
    assert "job database could not be written" in job["error"]
    assert time.monotonic() - start < 30


def test_end_of_job_is_recorded_once_the_database_recovers(make_app, monkeypatch):
    client = make_app(fake_analysis)
    store = client.app.state.calcdx.store
    mark_done = store.mark_done
    attempts = []

    def flaky(job_id, result):
        attempts.append(time.monotonic())
        if len(attempts) < 3:
            _db_down()
        mark_done(job_id, result)

    monkeypatch.setattr(store, "mark_done", flaky)
    job = wait_for_job(client, upload(client), timeout=20)
    assert job["status"] == "done"
    assert len(attempts) == 3


def test_a_script_without_a_main_guard_can_serve_isolated_jobs(tmp_path):
    """The job process does not import the server's main script again (as spawn would)."""
    import subprocess
    import sys

    script = tmp_path / "embed.py"
    script.write_text(
        "import sys, time, warnings\n"
        f"sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
        "warnings.simplefilter('ignore')\n"
        "from fastapi.testclient import TestClient\n"
        "import jobfakes\n"
        "from conftest import nifti_bytes\n"
        "from calcdx.web import WebSettings, create_app\n"
        f"settings = WebSettings(state_dir=__import__('pathlib').Path({str(tmp_path)!r}))\n"
        "app = create_app(settings, run_analysis=jobfakes.works, isolate_jobs=True)\n"
        "client = TestClient(app, base_url='http://127.0.0.1:8000')\n"
        "files = {'file': ('ct.nii', nifti_bytes(), 'application/octet-stream')}\n"
        "job = client.post('/api/studies', files=files).json()\n"
        "for _ in range(600):\n"
        "    job = client.get(f\"/api/jobs/{job['id']}\").json()\n"
        "    if job['status'] in ('done', 'failed'):\n"
        "        break\n"
        "    time.sleep(0.1)\n"
        "print(job['status'], job['error'])\n"
        "app.state.calcdx.runner.shutdown()\n"
    )
    run = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120, check=False
    )
    assert run.stdout.strip() == "done None", run.stderr[-2000:]


def test_a_job_prepares_its_slice_viewer(make_app, fakes, monkeypatch):
    import nibabel as nib
    import numpy as np

    import calcdx.web.slices as slices

    client = make_app(fakes.with_labels, isolate_jobs=True)
    study = nib.Nifti1Image(ct_like((8, 8, 6)), np.eye(4)).to_bytes()
    job = wait_for_job(client, upload(client, study), timeout=60)
    assert job["status"] == "done", job
    output = client.app.state.calcdx.settings.jobs_dir / job["id"] / "output"
    assert (output / "viewer" / "viewer.json").is_file()

    def no_build(*args):
        raise AssertionError("the viewer was prepared again")

    monkeypatch.setattr(slices, "build_viewer", no_build)
    client.app.state.calcdx.slices.limits = None  # a rebuild would run here, and fail
    page = client.get(f"/studies/{job['id']}")
    assert page.status_code == 200 and 'id="slice-viewer"' in page.text
    assert 'data-count="6"' in page.text
