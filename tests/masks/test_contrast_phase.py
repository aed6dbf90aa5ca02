"""Contrast phase from the image (calcdx.masks.contrast).

Truth: synthetic tubes of known density; on the shared real scans the phase
stated in their README and TotalSegmentator's aorta label (position and median
HU), which calcdx does not read.
"""

from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from calcdx.masks.contrast import ContrastConfig, contrast_phase, find_blood_pool

REALCT = Path(__file__).resolve().parents[2] / ".." / "shared" / "realct"


def _trunk(lumen_hu: float | None, *, seed: int = 0, organ_hu: float = 50.0,
           spacing: float = 1.0, n_slices: int = 30) -> tuple[np.ndarray, tuple[float, ...]]:
    """An elliptic trunk of soft tissue in fat, with an aorta-like tube in fat."""
    rng = np.random.default_rng(seed)
    n = int(300 / spacing)
    ii, jj = np.mgrid[:n, :n] * spacing
    hu = np.full((n, n), -1000.0)
    hu[((ii - 150) / 140) ** 2 + ((jj - 150) / 100) ** 2 <= 1] = -100.0  # fat
    hu[((ii - 110) / 60) ** 2 + ((jj - 150) / 50) ** 2 <= 1] = organ_hu  # an organ
    if lumen_hu is not None:
        hu[(ii - 200) ** 2 + (jj - 150) ** 2 <= 11.0 ** 2] = lumen_hu
    vol = np.repeat(hu[:, :, None], n_slices, axis=2)
    vol = vol + rng.normal(0, 10, vol.shape)
    return vol.astype(np.float32), (spacing, spacing, 3.0)


@pytest.mark.parametrize(("lumen", "phase"), [
    (45.0, "native"), (160.0, "portal_venous"), (420.0, "arterial"),
])
def test_phase_follows_the_density_of_the_tube(lumen, phase):
    hu, spacing = _trunk(lumen)
    out = contrast_phase(hu, spacing)
    assert out.phase == phase
    assert out.enhanced == (phase != "native")
    pool = out.blood_pool
    assert pool is not None
    assert abs(pool.median_hu - lumen) <= 10
    assert abs(pool.radius_mm - 11.0) <= 3.0
    ci, cj, _ = pool.centre_voxel
    assert np.hypot(ci * spacing[0] - 200, cj * spacing[1] - 150) <= 4.0


def test_tube_found_on_a_fine_grid():
    hu, spacing = _trunk(160.0, spacing=0.7, n_slices=12)
    out = contrast_phase(hu, spacing)
    assert out.phase == "portal_venous"


def test_thin_sections_link_a_tube_missed_in_some_of_them():
    # 0.25 mm slices over 40 mm: the 48 sections analysed lie 0.85 mm apart, and the
    # tube is absent from a 2.5 mm slab in every 4 mm (as when its edge is lost in
    # noise); the sections that show it are one tube along the whole stack
    hu, _ = _trunk(160.0, n_slices=160)
    spacing = (1.0, 1.0, 0.25)
    ii, jj = np.mgrid[:hu.shape[0], :hu.shape[1]]
    lumen = (ii - 200) ** 2 + (jj - 150) ** 2 <= 11.0 ** 2
    for k in np.flatnonzero(np.arange(hu.shape[2]) * spacing[2] % 4.0 >= 1.5):
        hu[:, :, k][lumen] = -100.0  # fat where the tube is not seen
    pool = find_blood_pool(hu, spacing)
    assert pool is not None
    assert abs(pool.median_hu - 160.0) <= 10
    assert pool.length_mm >= 30.0
    assert contrast_phase(hu, spacing).phase == "portal_venous"


def test_without_a_tube_the_header_is_support_and_the_organ_decides():
    hu, spacing = _trunk(None)
    assert find_blood_pool(hu, spacing) is None
    assert contrast_phase(hu, spacing).phase == "native"
    assert contrast_phase(hu, spacing, header={"contrast_agent": "APPLIED"}).phase == (
        "enhanced_unknown")
    hu, spacing = _trunk(None, organ_hu=110.0)
    out = contrast_phase(hu, spacing)
    assert out.phase == "portal_venous"
    assert out.parenchyma_hu is not None and abs(out.parenchyma_hu - 110) <= 10


def test_an_unenhanced_blood_pool_wins_over_the_header():
    hu, spacing = _trunk(45.0)
    out = contrast_phase(hu, spacing, header={"contrast_agent": "OMNIPAQUE"})
    assert out.phase == "native"
    assert out.header_agent == "OMNIPAQUE"
    assert "unenhanced" in out.evidence and "OMNIPAQUE" in out.evidence


def test_config_refuses_unknown_fields():
    with pytest.raises(ValidationError):
        ContrastConfig(aorta_hu=3)  # type: ignore[call-arg]


# --- real scans -------------------------------------------------------------------------

_REAL = [
    ("ts_abdomen_native_3mm.nii.gz", "native", "ts_abdomen_native_3mm_totalseg.nii.gz"),
    ("ts_chest_abdomen_dicom", "portal_venous", "ts_chest_abdomen_dicom_totalseg.nii.gz"),
    ("ts_chest_cta_1p5mm.nii.gz", "arterial", None),
]


@pytest.mark.skipif(not REALCT.is_dir(), reason="the shared real-CT folder is absent")
@pytest.mark.parametrize(("name", "phase", "labels"), _REAL)
def test_real_scans_phase_and_aorta(name, phase, labels):
    import nibabel as nib

    from calcdx.io import read_volume
    from calcdx.masks.body import body_mask
    from calcdx.phantom.realct import labels_on_grid, load_class_table

    volume = read_volume(REALCT / name)
    out = contrast_phase(volume.hu, volume.spacing_mm, body_mask(volume.hu, volume.spacing_mm),
                         header=volume.metadata)
    assert out.phase == phase, out.evidence
    if labels is None:
        return
    image = nib.load(REALCT / labels)
    lab = labels_on_grid(np.asarray(image.dataobj), image.affine, volume.affine, volume.shape)
    aorta_id = next(i for i, n in load_class_table(REALCT / "totalseg_total_classes.json")
                    .items() if n == "aorta")
    pool = out.blood_pool
    assert pool is not None
    ci, cj, ck = (round(v) for v in pool.centre_voxel)
    # the tube's centre lies in (or within 3 mm of) TotalSegmentator's aorta
    reach = int(np.ceil(3.0 / volume.spacing_mm[0]))
    near = lab[max(ci - reach, 0):ci + reach + 1, max(cj - reach, 0):cj + reach + 1, ck]
    assert (near == aorta_id).any()
    ts_median = float(np.median(volume.hu[lab == aorta_id]))
    assert abs(pool.median_hu - ts_median) <= 20


@pytest.mark.parametrize(("lumen", "phase"), [(45.0, "native"), (180.0, "portal_venous")])
def test_single_section_uses_the_densest_round_lumen(lumen, phase):
    hu, spacing = _trunk(lumen, n_slices=1)
    out = contrast_phase(hu, spacing)
    assert out.phase == phase
    assert out.blood_pool is not None and out.blood_pool.n_sections == 1
    assert "thin stack" in out.evidence


def test_block_mean_of_integer_hu_is_the_float32_mean_of_each_block():
    """Integer HU (fast path: integer sums) and the same values as float32 (numpy's mean)
    give the same float32 block means, which are the exact block means rounded as numpy
    divides (the float64 quotient of the sum, stored as float32); a partial last block
    is dropped."""
    from calcdx.masks.contrast import block_mean

    rng = np.random.default_rng(0)
    hu = rng.normal(40.0, 900.0, (23, 17, 30)).clip(-1024, 3071).astype(np.int16)
    factors = (4, 3, 7)
    got = block_mean(hu, factors)
    assert got.dtype == np.float32 and got.shape == (5, 5, 4)
    assert np.array_equal(got, block_mean(hu.astype(np.float32), factors))
    for a, b, c in np.ndindex(got.shape):
        block = hu[4 * a:4 * a + 4, 3 * b:3 * b + 3, 7 * c:7 * c + 7].astype(np.int64)
        assert got[a, b, c] == np.float32(block.sum() / block.size)
