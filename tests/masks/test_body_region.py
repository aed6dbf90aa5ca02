"""Body region from the image (calcdx.masks.region).

Truth: synthetic sections drawn with the anatomy of each region; the shared
real scans' README (what they cover) and TotalSegmentator's lung labels; the
phantom's planted lesions.
"""

from pathlib import Path

import numpy as np
import pytest
import yaml

from calcdx.masks.region import body_regions

ROOT = Path(__file__).resolve().parents[2]
REALCT = ROOT / ".." / "shared" / "realct"
PX = 1.5  # mm


def _grid(size_mm: float = 420.0):
    n = int(size_mm / PX)
    ii, jj = np.mgrid[:n, :n] * PX
    return ii - size_mm / 2, jj - size_mm / 2, np.full((n, n), -1000.0)


def _ellipse(x, y, cx, cy, a, b):
    return ((x - cx) / a) ** 2 + ((y - cy) / b) ** 2 <= 1


def _stack(plane, n=6, seed=0):
    rng = np.random.default_rng(seed)
    vol = np.repeat(plane[:, :, None], n, axis=2) + rng.normal(0, 10, (*plane.shape, n))
    return vol.astype(np.float32), np.diag([PX, PX, 3.0, 1.0])


def _trunk(x, y, hu, a=165.0, b=120.0):
    hu[_ellipse(x, y, 0, 0, a, b)] = -100.0
    hu[_ellipse(x, y, 0, 0, a - 15, b - 15)] = 40.0
    hu[_ellipse(x, y, 0, 70, 18, 15)] = 400.0  # vertebral body (posterior, y > 0)


def _head():
    x, y, hu = _grid(300)
    hu[_ellipse(x, y, 0, 0, 80, 95)] = 800.0
    hu[_ellipse(x, y, 0, 0, 73, 88)] = 35.0
    return hu


def _thorax():
    x, y, hu = _grid()
    _trunk(x, y, hu)
    for cx in (-75, 75):
        hu[_ellipse(x, y, cx, 0, 55, 80)] = -850.0
    return hu


def _abdomen():
    x, y, hu = _grid()
    _trunk(x, y, hu)
    hu[_ellipse(x, y, -60, -20, 70, 60)] = 55.0  # liver
    return hu


def _pelvis():
    x, y, hu = _grid()
    _trunk(x, y, hu, a=175)
    for cx in (-110, 110):
        hu[_ellipse(x, y, cx, 20, 12, 60)] = 450.0  # iliac wings
    return hu


def _neck():
    x, y, hu = _grid(250)
    hu[_ellipse(x, y, 0, 0, 65, 60)] = 40.0
    hu[_ellipse(x, y, 0, 30, 14, 12)] = 450.0  # cervical vertebra
    hu[_ellipse(x, y, 0, -5, 9, 8)] = -1000.0  # airway
    return hu


def _thighs():
    x, y, hu = _grid()
    for cx in (-90, 90):
        hu[_ellipse(x, y, cx, 0, 75, 70)] = 40.0
        hu[_ellipse(x, y, cx, 0, 14, 14)] = 900.0
        hu[_ellipse(x, y, cx, 0, 9, 9)] = 100.0
    return hu


@pytest.mark.parametrize(("draw", "region"), [
    (_head, "head_face"), (_thorax, "thorax"), (_abdomen, "abdomen"), (_pelvis, "pelvis"),
    (_neck, "neck"), (_thighs, "thigh"),
])
def test_synthetic_sections(draw, region):
    hu, affine = _stack(draw())
    out = body_regions(hu, affine)
    assert set(out.regions) == {region}, out.spans


def test_long_axis_follows_the_affine():
    # the same thorax stored with the slices along axis 0 (the affine says so)
    hu, affine = _stack(_thorax())
    moved = np.ascontiguousarray(np.moveaxis(hu, 2, 0))
    perm = np.zeros((4, 4))
    perm[:3, :3] = affine[:3, :3][:, [2, 0, 1]]
    perm[3, 3] = 1.0
    out = body_regions(moved, perm)
    assert out.axis == 0 and set(out.regions) == {"thorax"}


def test_stacked_regions_are_split_into_spans():
    hu_a, affine = _stack(_abdomen(), n=10)
    hu_t, _ = _stack(_thorax(), n=10, seed=1)
    out = body_regions(np.concatenate([hu_a, hu_t], axis=2), affine)
    assert [s.region for s in out.spans] == ["abdomen", "thorax"]
    assert out.at((0, 0, 2)) == "abdomen" and out.at((0, 0, 18)) == "thorax"


_README = [  # what the shared folder's README says each scan covers
    ("ts_abdomen_native_3mm.nii.gz", "abdomen"),
    ("ts_chest_cta_1p5mm.nii.gz", "thorax"),
]


@pytest.mark.skipif(not REALCT.is_dir(), reason="shared real-CT folder absent")
@pytest.mark.parametrize(("name", "region"), _README)
def test_real_scans_study_region(name, region):
    from calcdx.io import read_volume

    volume = read_volume(REALCT / name)
    assert body_regions(volume.hu, volume.affine).study_region == region


@pytest.mark.skipif(not REALCT.is_dir(), reason="shared real-CT folder absent")
@pytest.mark.parametrize(("name", "labels"), [
    ("ts_abdomen_native_3mm.nii.gz", "ts_abdomen_native_3mm_totalseg.nii.gz"),
    ("ts_chest_abdomen_dicom", "ts_chest_abdomen_dicom_totalseg.nii.gz"),
])
def test_thorax_planes_are_where_totalsegmentator_sees_lungs(name, labels):
    import nibabel as nib

    from calcdx.io import read_volume
    from calcdx.phantom.realct import labels_on_grid

    volume = read_volume(REALCT / name)
    image = nib.load(REALCT / labels)
    lab = labels_on_grid(np.asarray(image.dataobj), image.affine, volume.affine, volume.shape)
    lung = np.isin(lab, range(10, 15))  # the five lung lobes of the 'total' table
    body = np.isin(lab, range(1, 118))
    out = body_regions(volume.hu, volume.affine)
    assert out.axis == 2
    for k in range(volume.shape[2]):
        share = lung[:, :, k].sum() / max(body[:, :, k].sum(), 1)
        called = out.at((0, 0, k))
        if share == 0:
            assert called != "thorax", k
        if share >= 0.3:
            assert called == "thorax", k
    assert "thorax" not in out.regions or lung.any()


def test_phantom_lesions_all_carry_a_region():
    from calcdx.analysis import analyze_volume
    from calcdx.findings.derive import derive_groups
    from calcdx.phantom import make_phantom

    vocabulary = yaml.safe_load((ROOT / "src/calcdx/case/vocabulary.yaml").read_text())
    result = analyze_volume(make_phantom().volume)
    assert result.lesions
    assert all(lesion.region in vocabulary["region"] for lesion in result.lesions)
    for group in derive_groups(result):
        assert group.imaging.get("region") in vocabulary["region"]
    assert {s.region for s in result.masks.regions} <= {"abdomen", "pelvis"}


def test_an_arm_beside_the_trunk_is_a_limb():
    x, y, hu = _grid(520)
    _trunk(x, y, hu)
    hu[_ellipse(x, y, 215, 0, 40, 40)] = 40.0  # the arm, apart from the trunk
    hu[_ellipse(x, y, 215, 0, 11, 11)] = 900.0  # humerus
    vol, affine = _stack(hu)
    out = body_regions(vol, affine)
    assert set(out.regions) == {"abdomen"}
    n = hu.shape[0]
    # index of the arm's soft tissue (x = 215 + 25 mm) and of the trunk's (x = -60 mm)
    arm = ((215 + 25 + 260) / PX, n / 2, 2)
    trunk = ((-60 + 260) / PX, n / 2, 2)
    assert out.at(arm) == "upper_arm"
    assert out.at(trunk) == "abdomen"


@pytest.mark.skipif(not REALCT.is_dir(), reason="shared real-CT folder absent")
@pytest.mark.parametrize("name", ["ts_abdomen_native_3mm.nii.gz", "ts_chest_abdomen_dicom",
                                  "ts_chest_cta_1p5mm.nii.gz"])
def test_real_scan_cases_are_never_region_less(name):
    from calcdx.analysis import analyze_volume
    from calcdx.findings.derive import derive_groups
    from calcdx.io import read_volume

    vocabulary = yaml.safe_load((ROOT / "src/calcdx/case/vocabulary.yaml").read_text())
    groups = derive_groups(analyze_volume(read_volume(REALCT / name)))
    assert groups
    assert all(g.imaging.get("region") in vocabulary["region"] for g in groups)
