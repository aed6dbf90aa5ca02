"""The study result page: embedded report.html and the axial slice viewer."""

import io
import shutil
import time
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from PIL import Image

from calcdx.errors import CalcdxError
from calcdx.web.slices import SliceCache, load_stack

from .conftest import ct_like, fake_analysis, wait_for_job

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


def _files(tmp_path, shape=SHAPE, affine=None, labels=None):
    affine = _affine() if affine is None else affine
    volume = tmp_path / "ct.nii"
    hu = _volume() if shape == SHAPE else ct_like(shape)
    nib.save(nib.Nifti1Image(hu, affine), str(volume))
    out = tmp_path / "output"
    out.mkdir()
    lab = _labels() if labels is None else labels
    nib.save(nib.Nifti1Image(lab, affine), str(out / "lesions.nii.gz"))
    return volume, out / "lesions.nii.gz"


def test_slice_cache_keeps_stacks_and_pngs_within_bytes(tmp_path, monkeypatch):
    volume, labels = _files(tmp_path)
    builds = []
    import calcdx.web.slices as slices

    real = slices.build_viewer
    monkeypatch.setattr(slices, "build_viewer", lambda *a: builds.append(a) or real(*a))
    one_png = load_stack(volume, labels).render(0)  # prepares the viewer files once
    assert len(builds) == 1
    cache = SliceCache(max_bytes=int(2.5 * len(one_png)))
    stack = cache.get("a", volume, labels)
    assert cache.get("a", volume, labels) is stack
    assert len(builds) == 1  # the files on disk are reused, by the cache and by a new app
    for k in range(SHAPE[2]):
        assert cache.png("a", stack, k, "soft") == stack.render(k, "soft")
        assert cache.nbytes <= cache.max_bytes
    assert cache.nbytes > 0
    assert stack.count == SHAPE[2] and stack.lesion_slices == (5, 6, 7)
    with pytest.raises(IndexError):
        stack.render(SHAPE[2])


def test_concurrent_first_views_prepare_a_study_once(tmp_path, monkeypatch):
    import threading

    import calcdx.web.slices as slices

    volume, labels = _files(tmp_path)
    builds = []
    real = slices.build_viewer

    def slow_build(*args):
        builds.append(args)
        time.sleep(0.3)
        real(*args)

    monkeypatch.setattr(slices, "build_viewer", slow_build)
    cache = SliceCache()
    stacks = []
    threads = [
        threading.Thread(target=lambda: stacks.append(cache.get("a", volume, labels)))
        for _ in range(3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(builds) == 1 and len(stacks) == 3


def test_huge_study_is_reduced_for_display(tmp_path, monkeypatch):
    import calcdx.web.slices as slices

    # display limits scaled down 8 and 32 times, so that a small volume counts as huge
    monkeypatch.setattr(slices, "DISPLAY_WIDTH_PX", 64)
    monkeypatch.setattr(slices, "MAX_DISPLAY_SLICES", 32)
    shape = (140, 70, 70)  # more than 64 across and down, more than 32 slices
    affine = np.diag([-0.4, 0.5, 0.6, 1.0])
    labels = np.zeros(shape, dtype=np.uint8)
    labels[100, 50, 40] = 1  # one voxel: must still be outlined
    volume, labels_path = _files(tmp_path, shape, affine, labels)
    stack = load_stack(volume, labels_path)
    assert stack.step == (3, 2, 3)
    assert (stack.columns, stack.rows, stack.count) == (47, 35, 24)
    assert stack.spacing_mm == pytest.approx((1.2, 1.0, 1.8))
    assert stack.lesion_slices == (40 // 3,)
    on_disk = sum(f.stat().st_size for f in (labels_path.parent / "viewer").iterdir())
    assert on_disk < 3 * 47 * 35 * 24 + 10_000  # 3 bytes a display voxel
    image = _png_bytes(stack.render(40 // 3))
    outline = (image[:, :, 0] > 200) & (image[:, :, 2] < 50)
    assert outline.any()
    # grid x runs to the patient's left (affine -0.4): voxel 100 of 140 lies to the left of
    # the middle, on the image's right half; y = 50 of 70 is anterior, the upper half
    rows, columns = np.nonzero(outline)
    assert columns.mean() > image.shape[1] / 2 and rows.mean() < image.shape[0] / 2
    width, height = stack.size_px
    assert width == 64 and height == round(64 * (35 * 1.0) / (47 * 1.2))


def _png_bytes(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def test_viewer_is_prepared_in_a_child_within_limits(tmp_path):
    from calcdx.web.isolate import Limits

    volume, labels = _files(tmp_path)
    stack = load_stack(volume, labels, Limits(memory_bytes=4 * 1024**3, seconds=120))
    assert stack.count == SHAPE[2] and stack.lesion_slices == (5, 6, 7)
    shutil.rmtree(labels.parent / "viewer")
    # 64 MiB is less than the libraries need: the child cannot even load them
    with pytest.raises(CalcdxError, match="more memory than its limit of 64 MiB"):
        load_stack(volume, labels, Limits(memory_bytes=64 * 1024**2, seconds=120))


@pytest.mark.slow
def test_first_views_of_a_large_study_leave_the_server_small():
    """Three first views at once of a 512 x 512 x 300 study (150 MiB as int16).

    Before the viewer was prepared in a child process, the server loaded the whole
    volume once per concurrent view: 1936 MiB peak for three views of 768 x 768 x 256
    (tests/web/server_memory.py); now it grows by about 16 MiB.
    """
    from .server_memory import measure

    figures = measure((512, 512, 300), views=3)
    assert figures["errors"] == []
    growth = figures["server_peak_mib"] - figures["server_baseline_mib"]
    assert growth < figures["volume_int16_mib"] / 4, figures
