"""A small DICOM phantom study analysed once for the standard-object tests."""

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pydicom.dataset import Dataset

from calcdx.analysis import AnalysisParameters, AnalysisResult, analyze_volume
from calcdx.findings.derive import derive_groups
from calcdx.io import read_volume
from calcdx.io.dicom import read_series_headers
from calcdx.phantom import make_phantom, write_dicom_series, write_nifti
from calcdx.study import diagnose_groups, study_document
from calcdx.volume import Volume


@dataclass(frozen=True)
class Study:
    dicom: Path
    nifti: Path
    volume: Volume
    result: AnalysisResult
    headers: list[Dataset]
    document: dict[str, Any]  # result.json (with groups and differentials) read back


@pytest.fixture(scope="session")
def study(tmp_path_factory: pytest.TempPathFactory) -> Study:
    root = tmp_path_factory.mktemp("standards")
    phantom = make_phantom(shape=(96, 96, 48), spacing_mm=(1.6, 1.6, 4.0))
    write_dicom_series(phantom.volume, root / "dicom")
    nifti = write_nifti(phantom, root / "ct.nii.gz")
    volume = read_volume(root / "dicom")
    result = analyze_volume(volume, AnalysisParameters())
    assert len(result.lesions) >= 5, "the phantom should give several lesions"
    groups = derive_groups(result)
    cases, differentials = diagnose_groups(groups, {})
    doc = study_document(volume, result, groups, cases, differentials)
    (root / "result.json").write_text(json.dumps(doc), encoding="utf-8")
    return Study(
        dicom=root / "dicom",
        nifti=nifti,
        volume=volume,
        result=result,
        headers=read_series_headers(root / "dicom"),
        document=json.loads((root / "result.json").read_text(encoding="utf-8")),
    )


@pytest.fixture(scope="session")
def dciodvfy_errors():
    """``errors(path)``: the ``Error`` lines dciodvfy (dicom3tools) reports for a file."""
    import shutil
    import subprocess

    tool = shutil.which("dciodvfy")
    if tool is None:
        pytest.skip("dciodvfy (Debian dicom3tools) is not installed")

    def errors(path: Path) -> list[str]:
        run = subprocess.run([str(tool), str(path)], capture_output=True, text=True,
                             timeout=120, check=False)
        return [line for line in (run.stdout + run.stderr).splitlines()
                if line.startswith("Error")]

    return errors
