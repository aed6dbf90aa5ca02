"""The study result page: embedded report.html and the axial slice viewer."""

import io
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from PIL import Image

from calcdx.web.slices import SliceCache, load_stack

from .conftest import fake_analysis, wait_for_job

SHAPE = (40, 32, 12)  # x runs to the patient's left (LPS-like grid), y anterior, z superior
SPACING = (1.0, 1.5, 3.0)


def _affine() -> np.ndarray:
    # grid axis 0 runs to the patient's left (RAS x decreasing), axis 1 anterior, axis 2 superior
    return np.diag([-SPACING[0], SPACING[1], SPACING[2], 1.0])


def _volume() -> np.ndarray:
    hu = np.full(SHAPE, -1000, dtype=np.int16)
    hu[4:36, 4:28, :] = 40  # body
    hu[6:10, 6:10, :] = 1200  # a "bone" on grid side i small (the patient's right)
    return hu


def _labels() -> np.ndarray:
    labels = np.zeros(SHAPE, dtype=np.uint16)
    labels[20:26, 12:18, 5:8] = 1
    return labels


def nifti_study() -> bytes:
    image = nib.Nifti1Image(_volume(), _affine())
    return image.to_bytes()


def viewer_analysis(input_path: Path, out_dir: Path, progress) -> Path:
    """The fake analysis plus the files the viewer needs."""
    result = fake_analysis(input_path, out_dir, progress)
    nib.save(nib.Nifti1Image(_labels(), _affine()), str(out_dir / "lesions.nii.gz"))
    (out_dir / "report.html").write_text(
        "<!doctype html><html><body><h1>calcdx report</h1></body></html>"
    )
    return result


@pytest.fixture
def study(make_app):
    client = make_app(viewer_analysis)
    response = client.post(
        "/api/studies", files={"file": ("ct.nii", nifti_study(), "application/octet-stream")}
    )
    assert response.status_code == 202
    job = wait_for_job(client, response.json()["id"])
    assert job["status"] == "done", job
    return client, job["id"]


def _png(response) -> np.ndarray:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"
    return np.asarray(Image.open(io.BytesIO(response.content)).convert("RGB"))


def test_result_page_embeds_report_and_viewer(study):
    client, job_id = study
    page = client.get(f"/studies/{job_id}")
    assert page.status_code == 200
    assert f'src="/studies/{job_id}/report.html"' in page.text
    assert 'id="slice-viewer"' in page.text
    assert f'data-count="{SHAPE[2]}"' in page.text
    assert 'value="6"' in page.text  # starts on the middle lesion slice (5, 6, 7)
    report = client.get(f"/studies/{job_id}/report.html")
    assert report.status_code == 200 and "calcdx report" in report.text
    csp = report.headers["content-security-policy"]
    assert "sandbox" in csp and "frame-ancestors 'self'" in csp and "script-src" not in csp


def test_slice_png_orientation_window_and_outline(study):
    client, job_id = study
    soft = _png(client.get(f"/api/studies/{job_id}/slices/6.png"))
    height, width, _ = soft.shape
    assert width == 512 and height == round(512 * (32 * 1.5) / (40 * 1.0))
    amber = (soft[:, :, 0] > 200) & (soft[:, :, 2] < 50)
    assert amber.any()  # the lesion outline
    # the bone sits at the patient's right, i.e. on the image's left, and posterior (low y: bottom)
    bone = _png(client.get(f"/api/studies/{job_id}/slices/6.png?window=bone"))
    grey_soft, grey_bone = soft[:, :, 1].astype(int), bone[:, :, 1].astype(int)
    bright = np.argwhere((grey_soft == 255) & ~amber)
    assert bright[:, 1].mean() < width / 2 and bright[:, 0].mean() > height / 2
    body = (height // 2, width // 2 + 60)
    assert grey_soft[body] == pytest.approx(127, abs=3)  # 40 HU is mid-grey at L40
    assert grey_bone[body] < grey_soft[body]  # and darker in the bone window
    empty = _png(client.get(f"/api/studies/{job_id}/slices/0.png"))
    assert not ((empty[:, :, 0] > 200) & (empty[:, :, 2] < 50)).any()  # no lesion there


def test_slice_errors(study, client):
    study_client, job_id = study
    assert study_client.get(f"/api/studies/{job_id}/slices/{SHAPE[2]}.png").status_code == 404
    assert study_client.get(f"/api/studies/{job_id}/slices/-1.png").status_code == 404
    assert study_client.get(f"/api/studies/{job_id}/slices/x.png").status_code == 422
    bad = study_client.get(f"/api/studies/{job_id}/slices/1.png?window=lung")
    assert bad.status_code == 422 and "window" in bad.json()["detail"]
    assert study_client.get("/api/studies/nope/slices/1.png").status_code == 404
    assert study_client.get("/studies/nope/report.html").status_code == 404
    for attack in ("..%2F..%2Fcalcdx.db", "%2e%2e", "..", "x%00"):
        response = study_client.get(f"/studies/{attack}/report.html")
        assert response.status_code == 404, attack
        assert "calcdx report" not in response.text


def test_viewer_unavailable_without_label_map(client):
    """The plain fake analysis writes no lesions.nii.gz: the page says so, slices 404."""
    response = client.post(
        "/api/studies", files={"file": ("ct.nii", nifti_study(), "application/octet-stream")}
    )
    job_id = wait_for_job(client, response.json()["id"])["id"]
    page = client.get(f"/studies/{job_id}")
    assert page.status_code == 200 and "Slice viewer unavailable" in page.text
    assert "report.html" not in page.text
    assert client.get(f"/api/studies/{job_id}/slices/0.png").status_code == 404
    assert client.get(f"/studies/{job_id}/report.html").status_code == 404


def test_slice_of_unfinished_job_is_409(make_app):
    import threading

    gate = threading.Event()

    def slow(input_path, out_dir, progress):
        gate.wait(10)
        return viewer_analysis(input_path, out_dir, progress)

    client = make_app(slow)
    job_id = client.post(
        "/api/studies", files={"file": ("ct.nii", nifti_study(), "application/octet-stream")}
    ).json()["id"]
    try:
        assert client.get(f"/api/studies/{job_id}/slices/0.png").status_code == 409
        assert client.get(f"/studies/{job_id}/report.html").status_code == 409
    finally:
        gate.set()
    wait_for_job(client, job_id)


def test_slice_cache_is_a_small_lru(tmp_path, monkeypatch):
    volume = tmp_path / "ct.nii"
    volume.write_bytes(nifti_study())
    labels = tmp_path / "lesions.nii.gz"
    nib.save(nib.Nifti1Image(_labels(), _affine()), str(labels))
    loads = []
    import calcdx.web.slices as slices

    real = slices.load_stack
    monkeypatch.setattr(slices, "load_stack", lambda *a: loads.append(a) or real(*a))
    cache = SliceCache(maxsize=2)
    first = cache.get("a", volume, labels)
    assert cache.get("a", volume, labels) is first
    cache.get("b", volume, labels)
    cache.get("a", volume, labels)  # a is now the most recent
    cache.get("c", volume, labels)  # drops b
    assert len(cache) == 2 and len(loads) == 3
    cache.get("b", volume, labels)
    assert len(loads) == 4
    stack = load_stack(volume, labels)
    assert stack.count == SHAPE[2] and stack.lesion_slices == (5, 6, 7)
    with pytest.raises(IndexError):
        stack.render(SHAPE[2])
