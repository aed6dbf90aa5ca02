import io
import json
import struct
import time
import warnings
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from starlette.exceptions import StarletteDeprecationWarning

with warnings.catch_warnings():
    # starlette warns once, at import, when httpx2 is not installed (httpx still works)
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

from calcdx.web import WebSettings, create_app

CASE = {
    "format": "calcdx-case/1",
    "id": "c1",
    "patient": {"age_years": 60},
    "clinical": ["dialysis"],
    "imaging": {
        "region": "hip",
        "location": "periarticular",
        "pattern": ["lobulated_chalky", "fluid_calcium_level"],
    },
}
BAD_CASE = {"format": "calcdx-case/1", "id": "bad", "imaging": {"pattern": ["zonal"]}}
TOKEN = "s3cret-token-for-tests"


def fake_analysis(input_path: Path, out_dir: Path, progress: Callable[[str, float], None]) -> Path:
    """Stands in for calcdx.study.run_study: a tiny result.json."""
    progress("reading", 0.1)
    progress("detecting", 0.5)
    out_dir.mkdir(parents=True, exist_ok=True)
    result = out_dir / "result.json"
    document = {
        "format": "fake",
        "input_kind": "dir" if input_path.is_dir() else "file",
        "lesions": [],
        "groups": [],
        "warnings": ["fake analysis"],
    }
    result.write_text(json.dumps(document))
    progress("done", 1.0)
    return result


def ct_like(shape: tuple[int, int, int]) -> np.ndarray:
    """int16 HU a CT reader accepts: air around a soft-tissue body, one dense voxel."""
    hu = np.full(shape, -1000, dtype=np.int16)
    inner = tuple(slice(n // 8, n - n // 8) for n in shape)
    hu[inner] = 40
    hu[tuple(n // 2 for n in shape)] = 1200
    return hu


def nifti_bytes(shape: tuple[int, ...] = (4, 4, 4)) -> bytes:
    """A NIfTI-1 header declaring `shape` (int16), with 64 bytes of data."""
    header = bytearray(352)
    header[0:4] = struct.pack("<i", 348)
    header[40:56] = struct.pack("<8h", len(shape), *shape, *([1] * (7 - len(shape))))
    header[70:72] = struct.pack("<h", 4)  # int16
    header[72:74] = struct.pack("<h", 16)
    header[76:108] = struct.pack("<8f", *([1.0] * 8))
    header[108:112] = struct.pack("<f", 352.0)
    header[344:348] = b"n+1\x00"
    return bytes(header) + b"\x00" * 64


def dicom_bytes(rows: int = 4, columns: int = 4) -> bytes:
    """A minimal CT image file: file meta, Rows and Columns, 16 bytes of pixels."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = "1.2.826.0.1.3680043.10.1.1"
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    dataset = Dataset()
    dataset.file_meta = meta
    dataset.SOPClassUID = CTImageStorage
    dataset.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    dataset.Modality = "CT"
    dataset.Rows, dataset.Columns = rows, columns
    dataset.BitsAllocated, dataset.BitsStored, dataset.HighBit = 16, 16, 15
    dataset.PixelRepresentation, dataset.SamplesPerPixel = 1, 1
    dataset.PhotometricInterpretation = "MONOCHROME2"
    dataset.PixelData = b"\x00\x00" * 8
    out = io.BytesIO()
    dataset.save_as(out, enforce_file_format=True)
    return out.getvalue()


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        for name, data in members.items():
            bundle.writestr(name, data)
    return buffer.getvalue()


@pytest.fixture
def make_app(tmp_path: Path) -> Iterator[Callable[..., TestClient]]:
    """Build apps over tmp_path (same database across calls) and close them afterwards."""
    apps = []

    def build(
        analysis: Callable[..., Path] = fake_analysis,
        isolate_jobs: bool = False,
        **overrides: object,
    ) -> TestClient:
        options: dict[str, object] = {"state_dir": tmp_path / "state"} | overrides
        settings = WebSettings(**options)  # type: ignore[arg-type]
        app = create_app(settings, run_analysis=analysis, isolate_jobs=isolate_jobs)
        apps.append(app)
        return TestClient(app, base_url="http://127.0.0.1:8000")

    yield build
    for app in apps:
        app.state.calcdx.runner.shutdown(wait=True)
        app.state.calcdx.store.close()


@pytest.fixture
def client(make_app: Callable[..., TestClient]) -> TestClient:
    return make_app()


def wait_for_job(client: TestClient, job_id: str, timeout: float = 10.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/api/jobs/{job_id}").json()
        if job["status"] in {"done", "failed"}:
            return job
        time.sleep(0.02)
    raise AssertionError(f"job {job_id} did not finish: {job}")
