import os
import re
import stat
import zipfile
from pathlib import Path

import pytest

from calcdx.errors import StudyError

from .conftest import dicom_bytes, nifti_bytes, wait_for_job, zip_bytes


def upload(client, data: bytes, name: str = "study.zip"):
    return client.post("/api/studies", files={"file": (name, data, "application/octet-stream")})


def test_nifti_upload_runs_and_gives_a_result(client, tmp_path):
    response = upload(client, nifti_bytes(), "../../etc/passwd.nii")  # the name is ignored
    assert response.status_code == 202
    job = response.json()
    assert job["status"] == "queued"
    assert response.headers["location"] == f"/api/jobs/{job['id']}"
    done = wait_for_job(client, job["id"])
    assert done["status"] == "done" and done["progress"] == 1.0
    assert done["result_url"] == f"/api/studies/{job['id']}/result"
    result = client.get(done["result_url"])
    assert result.status_code == 200
    assert result.json()["input_kind"] == "file"
    stored = sorted(p.name for p in (tmp_path / "state" / "jobs" / job["id"]).iterdir())
    assert stored == ["input.nii", "output"]
    page = client.get(f"/studies/{job['id']}")
    assert page.status_code == 200 and "fake analysis" in page.text


def test_gzipped_nifti_is_recognised(client):
    import gzip

    job = upload(client, gzip.compress(nifti_bytes()), "anything.bin").json()
    assert wait_for_job(client, job["id"])["status"] == "done"


def test_dicom_zip_is_stored_under_generated_names(client, tmp_path):
    data = zip_bytes(
        {"PATIENT^NAME/IMG1": dicom_bytes(), "PATIENT^NAME/IMG2": dicom_bytes(), "notes.txt": b"x"}
    )
    job = upload(client, data).json()
    assert wait_for_job(client, job["id"])["status"] == "done"
    folder = tmp_path / "state" / "jobs" / job["id"] / "input"
    assert sorted(p.name for p in folder.iterdir()) == ["000000.dcm", "000001.dcm"]


def test_oversize_upload_is_413(make_app):
    client = make_app(max_upload_bytes=1000)
    response = upload(client, nifti_bytes() + b"\x00" * 2000)
    assert response.status_code == 413
    assert "limit of 1000 bytes" in response.json()["detail"]


def test_zip_bomb_is_413(make_app):
    client = make_app(max_upload_bytes=100_000, max_extracted_bytes=10_000)
    data = zip_bytes({"a.dcm": dicom_bytes() + b"\x00" * 50_000})
    response = upload(client, data)
    assert response.status_code == 413


@pytest.mark.parametrize(
    "name", ["../evil.dcm", "a/../../evil.dcm", "/etc/evil.dcm", "C:/evil.dcm", "..\\evil.dcm"]
)
def test_zip_slip_is_400(client, tmp_path, name):
    data = zip_bytes({"ok.dcm": dicom_bytes(), name: dicom_bytes()})
    response = upload(client, data)
    assert response.status_code == 400
    assert "refusing to extract" in response.json()["detail"]
    assert not (tmp_path / "evil.dcm").exists()
    assert not list((tmp_path / "state" / "jobs").iterdir())  # nothing kept


def test_zip_symlink_is_400(client):
    import io

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        bundle.writestr("ok.dcm", dicom_bytes())
        link = zipfile.ZipInfo("link.dcm")
        link.create_system = 3
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        bundle.writestr(link, "/etc/passwd")
    response = upload(client, buffer.getvalue())
    assert response.status_code == 400
    assert "symbolic link" in response.json()["detail"]


def test_non_dicom_zip_is_400(client):
    response = upload(client, zip_bytes({"readme.txt": b"hello", "img.png": b"\x89PNG...."}))
    assert response.status_code == 400
    assert "no DICOM images" in response.json()["detail"]


def test_empty_zip_is_400(client):
    response = upload(client, zip_bytes({}))
    assert response.status_code == 400
    assert "zip is empty" in response.json()["detail"]


def test_zip_of_empty_folders_is_400(client):
    import io

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        bundle.mkdir("empty")
    response = upload(client, buffer.getvalue())
    assert response.status_code == 400
    assert "zip is empty" in response.json()["detail"]


def test_empty_upload_is_400(client):
    response = upload(client, b"")
    assert response.status_code == 400
    assert response.json()["detail"].startswith("the upload is empty")


def test_other_files_are_400(client):
    response = upload(client, b"%PDF-1.7 not a study" * 30, "scan.nii")
    assert response.status_code == 400
    assert "neither a zip" in response.json()["detail"]


def test_damaged_zip_is_400(client):
    response = upload(client, b"PK\x03\x04" + b"\x00" * 100)
    assert response.status_code == 400


def test_no_study_is_400(client):
    response = client.post("/api/studies", data={})
    assert response.status_code == 400
    assert "send a study" in response.json()["detail"]


def test_server_paths_need_a_data_dir(client):
    response = client.post("/api/studies", data={"path": "study1"})
    assert response.status_code == 400
    assert "--data-dir" in response.json()["detail"]


def test_server_path_inside_data_dir(make_app, tmp_path):
    data_dir = tmp_path / "data"
    (data_dir / "study1").mkdir(parents=True)
    (tmp_path / "outside").mkdir()
    client = make_app(data_dir=data_dir)
    job = client.post("/api/studies", data={"path": "study1"}).json()
    assert wait_for_job(client, job["id"])["status"] == "done"
    # outputs go to the job's own folder, never into the server's data folder
    assert sorted(p.name for p in data_dir.iterdir()) == ["study1"]
    assert (tmp_path / "state" / "jobs" / job["id"] / "output" / "result.json").is_file()
    escape = client.post("/api/studies", data={"path": "../outside"})
    assert escape.status_code == 400
    assert "leaves the server's data folder" in escape.json()["detail"]
    absolute = client.post("/api/studies", data={"path": str(tmp_path / "outside")})
    assert absolute.status_code == 400
    assert client.post("/api/studies", data={"path": "missing"}).status_code == 404
    if hasattr(os, "symlink"):
        os.symlink(tmp_path / "outside", data_dir / "link")
        assert client.post("/api/studies", data={"path": "link"}).status_code == 400


def test_failing_analysis_marks_the_job_failed(make_app):
    def broken(input_path, out_dir, progress):
        raise StudyError("no CT series in the upload; export the CT series")

    client = make_app(analysis=broken)
    job = upload(client, nifti_bytes()).json()
    failed = wait_for_job(client, job["id"])
    assert failed["status"] == "failed"
    assert failed["error"] == "no CT series in the upload; export the CT series"
    response = client.get(f"/api/studies/{job['id']}/result")
    assert response.status_code == 409
    assert "failed" in response.json()["detail"]


def test_unexpected_error_is_recorded_without_details(make_app):
    def crashing(input_path, out_dir, progress):
        raise RuntimeError("PATIENT^NAME secret detail")

    client = make_app(analysis=crashing)
    job = upload(client, nifti_bytes()).json()
    failed = wait_for_job(client, job["id"])
    assert failed["status"] == "failed"
    assert "RuntimeError" in failed["error"] and "PATIENT" not in failed["error"]


def test_result_before_done_is_409(make_app):
    import threading

    gate = threading.Event()

    def slow(input_path, out_dir, progress):
        progress("waiting", 0.3)
        gate.wait(5)
        raise StudyError("stopped")

    client = make_app(analysis=slow)
    job = upload(client, nifti_bytes()).json()
    try:
        response = client.get(f"/api/studies/{job['id']}/result")
        assert response.status_code == 409
        assert "poll GET /api/jobs/" in response.json()["detail"]
    finally:
        gate.set()


def test_unknown_job_is_404(client):
    assert client.get("/api/jobs/nope").status_code == 404
    response = client.get("/api/studies/nope/result")
    assert response.status_code == 404
    assert response.json()["detail"].startswith("no job 'nope'")


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symbolic links")
def test_links_inside_a_server_study_that_lead_out_are_refused(make_app, tmp_path):
    data_dir = tmp_path / "data"
    outside = tmp_path / "outside"
    (outside / "deeper").mkdir(parents=True)
    (outside / "secret.dcm").write_bytes(b"not yours")
    study = data_dir / "study1"
    (study / "series").mkdir(parents=True)
    (study / "series" / "a.dcm").write_bytes(b"x")
    (data_dir / "shared.dcm").write_bytes(b"y")
    os.symlink(data_dir / "shared.dcm", study / "series" / "inside.dcm")  # stays inside
    os.symlink(study, study / "series" / "loop")  # a loop of links, inside
    client = make_app(data_dir=data_dir)
    assert client.post("/api/studies", data={"path": "study1"}).status_code == 202
    os.symlink(outside / "secret.dcm", study / "series" / "b.dcm")
    refused = client.post("/api/studies", data={"path": "study1"})
    assert refused.status_code == 400
    detail = refused.json()["detail"]
    assert "leads out of the server's data folder" in detail and "b.dcm" in detail
    assert str(tmp_path) not in detail
    (study / "series" / "b.dcm").unlink()
    os.symlink(outside / "deeper", study / "linked-folder")
    assert client.post("/api/studies", data={"path": "study1"}).status_code == 400


def test_studies_list_is_paged(make_app):
    from calcdx.web.studies import JOBS_PER_PAGE

    client = make_app()
    store = client.app.state.calcdx.store
    ids = [store.create(Path("/nowhere/in.nii")).id for _ in range(JOBS_PER_PAGE + 3)]
    newest_first = [job.id for job in store.recent(len(ids) + 1)]
    assert sorted(newest_first) == sorted(ids)
    first = client.get("/studies")
    second = client.get("/studies", params={"page": 2})
    assert first.status_code == second.status_code == 200

    def listed(page) -> list[str]:
        return re.findall(r'href="/studies/([0-9a-f]{32})"', page.text)

    assert listed(first) == newest_first[:JOBS_PER_PAGE]
    assert listed(second) == newest_first[JOBS_PER_PAGE:]
    assert 'href="/studies?page=2"' in first.text and "page 1 of 2" in first.text
    assert 'href="/studies?page=1"' in second.text and "page=3" not in second.text
    beyond = client.get("/studies", params={"page": 9})
    assert beyond.status_code == 200 and listed(beyond) == [] and "2 pages" in beyond.text
    assert client.get("/studies", params={"page": 0}).status_code == 422
    assert client.get("/studies", params={"page": "x"}).status_code == 422


REALCT = Path(__file__).resolve().parents[2] / ".." / "shared" / "realct"


def _anatomy_seen(input_path: Path, out_dir: Path, progress) -> Path:
    """A fake analysis that records the anatomy input the job folder offers it."""
    from calcdx.web.uploads import find_anatomy

    from .conftest import fake_analysis

    result = fake_analysis(input_path, out_dir, progress)
    anatomy = find_anatomy(out_dir.parent)
    (out_dir / "anatomy_seen.txt").write_text(anatomy.name if anatomy else "")
    return result


def test_an_anatomy_upload_is_stored_beside_the_study(make_app, tmp_path):
    import gzip

    client = make_app(analysis=_anatomy_seen)
    response = client.post("/api/studies", files={
        "file": ("s.nii", nifti_bytes(), "application/octet-stream"),
        "anatomy": ("../../x.bin", gzip.compress(nifti_bytes()), "application/octet-stream")})
    assert response.status_code == 202
    job = response.json()
    assert wait_for_job(client, job["id"])["status"] == "done"
    folder = tmp_path / "state" / "jobs" / job["id"]
    assert sorted(p.name for p in folder.iterdir()) == ["anatomy.nii.gz", "input.nii", "output"]
    assert (folder / "output" / "anatomy_seen.txt").read_text() == "anatomy.nii.gz"


@pytest.mark.parametrize("data", [b"not an image", zip_bytes({"a/IMG1": dicom_bytes()}), b""])
def test_an_anatomy_that_is_not_a_nifti_is_400_and_leaves_nothing(make_app, tmp_path, data):
    client = make_app(analysis=_anatomy_seen)
    response = client.post("/api/studies", files={
        "file": ("s.nii", nifti_bytes(), "application/octet-stream"),
        "anatomy": ("a.nii.gz", data, "application/octet-stream")})
    assert response.status_code == 400
    assert "TotalSegmentator's multi-label NIfTI" in response.json()["detail"]
    jobs = tmp_path / "state" / "jobs"
    assert not jobs.exists() or not list(jobs.iterdir())
    assert client.app.state.calcdx.store.recent(10) == []


@pytest.mark.skipif(not REALCT.is_dir(), reason="the shared real CT scans are not here")
def test_the_real_analysis_uses_an_uploaded_anatomy(make_app):
    from calcdx.web.runner import default_run_analysis

    client = make_app(analysis=default_run_analysis)
    scan = (REALCT / "ts_abdomen_native_3mm.nii.gz").read_bytes()
    labels = (REALCT / "ts_abdomen_native_3mm_totalseg.nii.gz").read_bytes()
    job = client.post("/api/studies", files={
        "file": ("ct.nii.gz", scan, "application/octet-stream"),
        "anatomy": ("seg.nii.gz", labels, "application/octet-stream")}).json()
    done = wait_for_job(client, job["id"], timeout=600)
    assert done["status"] == "done", done
    doc = client.get(done["result_url"]).json()
    # TotalSegmentator's kidney labels reach the lesions, as with `analyze --anatomy`
    assert any((les.get("anatomy") or {}).get("organ") == "kidney" for les in doc["lesions"])
    assert "anatomy from TotalSegmentator" in " ".join(doc["masks"]["notes"])


def test_an_empty_anatomy_field_of_the_page_form_is_no_anatomy(make_app, tmp_path):
    client = make_app(analysis=_anatomy_seen)
    assert 'name="anatomy"' in client.get("/studies").text
    response = client.post("/api/studies", files={
        "file": ("s.nii", nifti_bytes(), "application/octet-stream"),
        "anatomy": ("", b"", "application/octet-stream")})  # a browser's unset file input
    assert response.status_code == 202
    job = response.json()
    assert wait_for_job(client, job["id"])["status"] == "done"
    folder = tmp_path / "state" / "jobs" / job["id"]
    assert (folder / "output" / "anatomy_seen.txt").read_text() == ""
