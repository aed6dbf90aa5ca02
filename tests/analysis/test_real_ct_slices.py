"""The analysis on real CT slices (pydicom test files and the data_store package)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest
from pydicom.data import get_testdata_file

from calcdx.analysis import AnalysisResult, analyze_volume
from calcdx.io import read_volume
from calcdx.lesions.detect import detect_lesions
from calcdx.volume import Volume

# bad_sequence.dcm carries a non-conformant UID; pydicom warns and reads it.
pytestmark = pytest.mark.filterwarnings("ignore:Invalid value for VR UI")


def _path(name: str) -> Path:
    if name == "CT_small.dcm":
        found = get_testdata_file(name)
        if found is None:
            pytest.skip(f"{name} is not installed")
        return Path(str(found))
    store = pytest.importorskip("data_store")
    path = Path(store.__file__).parent / "data" / name
    if not path.exists():
        pytest.skip(f"{name} is not installed")
    return path


@lru_cache(maxsize=8)
def _run(name: str) -> tuple[Volume, AnalysisResult]:
    volume = read_volume(_path(name))
    return volume, analyze_volume(volume)


def _skeleton(volume: Volume) -> np.ndarray:
    """The filled skeleton mask on the full grid."""
    from calcdx.analysis import AnalysisParameters

    bone = detect_lesions(volume.hu, volume.affine, AnalysisParameters()).bone
    full = np.zeros(volume.shape, dtype=bool)
    if bone.filled.size:
        o = bone.offset
        s = bone.filled.shape
        full[o[0] : o[0] + s[0], o[1] : o[1] + s[1], o[2] : o[2] + s[2]] = bone.filled
    return full


def _vertebra_index(volume: Volume, result: AnalysisResult) -> tuple[int, int]:
    """In-plane index of the densest voxel (the vertebra's cortex) in slice 0."""
    flat = int(np.argmax(volume.hu[:, :, 0]))
    return int(flat // volume.shape[1]), int(flat % volume.shape[1])


@pytest.mark.parametrize(
    "name",
    ["CT_small.dcm", "693_UNCR.dcm", "693_J2KR.dcm", "693_UNCI.dcm", "bad_sequence.dcm",
     "explicit_VR-UN.dcm", "eCT_Supplemental.dcm"],
)
def test_each_real_file_runs(name: str) -> None:
    volume, result = _run(name)
    assert result.label_map.shape == volume.shape
    assert result.totals.n_lesions == len(result.lesions)
    assert np.all(np.isfinite([les.volume_mm3 for les in result.lesions]))


def test_head_skull_is_not_reported() -> None:
    volume, result = _run("693_UNCR.dcm")
    skeleton = _skeleton(volume)
    assert result.masks.skeleton_components >= 1
    assert result.masks.skeleton_volume_mm3 > 30_000.0  # the skull (5 mm slice, 20 mm step)
    assert not np.any((result.label_map > 0) & skeleton)
    assert result.totals.volume_mm3 < 0.05 * result.masks.skeleton_volume_mm3
    assert result.totals.n_lesions <= 5
    assert not result.contrast.enhanced


@pytest.mark.parametrize("name", [
    "CT_small.dcm",
    "explicit_VR-UN.dcm",
])
def test_vertebra_not_reported_contrast_detected(name: str) -> None:
    volume, result = _run(name)
    i, j = _vertebra_index(volume, result)
    assert volume.hu[i, j, 0] >= 900
    assert result.label_map[i, j, 0] == 0
    assert result.masks.skeleton_components >= 1
    skeleton = _skeleton(volume)
    assert skeleton[i, j, 0]
    # No lesion anywhere near the vertebra's size.
    assert all(les.volume_mm3 < 500.0 for les in result.lesions)
    assert result.contrast.enhanced
    assert result.contrast.n_regions >= 1


def test_ct_small_contrast_from_header() -> None:
    volume, result = _run("CT_small.dcm")
    assert volume.metadata["contrast_agent"]
    assert "DICOM header" in result.contrast.evidence


def test_explicit_vr_contrast_from_image() -> None:
    _, result = _run("explicit_VR-UN.dcm")
    assert result.totals.n_lesions < 30  # was 70 with kidneys, vessels and bowel
    assert result.contrast.lumen_median_hu is not None
    assert 150.0 <= result.contrast.lumen_median_hu <= 450.0


def test_jpeg2000_lossless_gives_identical_result() -> None:
    _, plain = _run("693_UNCR.dcm")
    _, j2k = _run("693_J2KR.dcm")
    np.testing.assert_array_equal(plain.label_map, j2k.label_map)
    assert [les.model_dump() for les in plain.lesions] == [les.model_dump() for les in j2k.lesions]
    assert plain.totals == j2k.totals
    assert plain.masks == j2k.masks
    assert plain.contrast == j2k.contrast


def test_jpeg_lossless_slice_runs() -> None:
    """Its vertebral body's marrow (about 240 HU) is smooth at 0.29 mm pixels; the image
    is native (no aorta, no enhanced parenchyma, no agent in the header), so the marrow
    is not taken for an enhanced lumen and the vertebra stays skeleton."""
    volume, result = _run("bad_sequence.dcm")
    assert volume.metadata["transfer_syntaxes"] == ["1.2.840.10008.1.2.4.70"]  # JPEG lossless
    assert result.masks.skeleton_components >= 1
    i, j = _vertebra_index(volume, result)
    assert result.label_map[i, j, 0] == 0 or result.lesions[
        int(result.label_map[i, j, 0]) - 1
    ].volume_mm3 < 500.0
