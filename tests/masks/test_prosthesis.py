"""A cemented hip stem with streak artefacts on an analytic volume.

Truth is the geometry drawn here: a femoral shaft (cortex 4 mm at 1200 HU round
fatty marrow) holding a metal stem (3071 HU, the top of a 12-bit CT scale, as
cobalt-chromium and titanium stems reach) in a cement mantle (1800 HU: PMMA with
barium sulphate), bright and dark streaks radiating from the metal (+-500 HU,
fading over about 12 mm, the alternating bands of beam hardening and photon
starvation), and one 500 HU deposit 90 mm from the stem.
"""

import numpy as np
import pytest

from calcdx.analysis import AnalysisParameters, analyze_volume
from calcdx.lesions.detect import detect_lesions
from calcdx.volume import Volume

SPACING = (0.8, 0.8, 2.0)


def _hip_stem(spacing=SPACING, streak_hu=500.0):
    extent = (200.0, 160.0, 80.0)
    n = [round(e / s) for e, s in zip(extent, spacing, strict=True)]
    axes = [(np.arange(k) - (k - 1) / 2) * s for k, s in zip(n, spacing, strict=True)]
    x, y, z = np.meshgrid(*axes, indexing="ij")
    hu = np.full(x.shape, -1000.0)
    body = (x / 95.0) ** 2 + (y / 75.0) ** 2 <= 1.0
    hu[body] = -100.0
    hu[(x / 90.0) ** 2 + (y / 70.0) ** 2 <= 1.0] = 50.0
    r = np.hypot(x + 40.0, y)
    hu[r <= 13.0] = 1200.0
    hu[r <= 9.0] = -50.0
    hu[r <= 8.0] = 1800.0
    hu[r <= 5.0] = 3071.0
    theta = np.arctan2(y, x + 40.0)
    streak = streak_hu * np.cos(8.0 * theta) * np.exp(-np.clip(r - 5.0, 0.0, None) / 12.0)
    hu += np.where(body & (r > 5.0), streak, 0.0)
    deposit = np.sqrt((x - 50.0) ** 2 + (y - 10.0) ** 2 + z**2) <= 4.0
    hu[deposit] = 500.0
    hu = np.clip(np.round(hu), -1024, 3071).astype(np.int16)
    return Volume(hu, np.diag([*spacing, 1.0])), r, deposit, body


@pytest.fixture(scope="module")
def stem():
    volume, r, deposit, body = _hip_stem()
    return volume, analyze_volume(volume), r, deposit, body


def test_the_stem_is_foreign_material_not_a_lesion(stem):
    _, result, r, _, _ = stem
    assert len(result.foreign_material) == 1
    assert result.foreign_material[0].peak_hu >= 2500
    # metal stem: pi 5^2 x 80 mm (within a voxel layer of partial volume)
    assert result.foreign_material[0].volume_mm3 == pytest.approx(np.pi * 25.0 * 80.0, rel=0.2)
    assert not np.any(result.label_map[r <= 40.0])  # nor bone, cement or streaks


def test_a_deposit_away_from_the_stem_is_still_found(stem):
    _, result, _, deposit, _ = stem
    found = set(np.unique(result.label_map[deposit])) - {0}
    assert len(found) == 1
    lesion = result.lesions[found.pop() - 1]
    assert lesion.volume_mm3 == pytest.approx(4.0 / 3.0 * np.pi * 4.0**3, rel=0.2)
    assert result.totals.n_lesions == 1


def test_the_bone_round_the_stem_is_skeleton(stem):
    volume, _, r, _, _ = stem
    bone = detect_lesions(volume.hu, volume.affine, AnalysisParameters()).bone
    full = bone.full(volume.shape)
    assert full[r <= 13.0].mean() >= 0.95


@pytest.mark.xfail(strict=True, reason=(
    "measured: 38,900 mm^3 of soft tissue more than 1 mm beyond the femur (92 % of the "
    "femur's own 42,500 mm^3) is taken as skeleton: the bright streaks over 130 HU join the "
    "bone's "
    "mineral component and are sealed and filled with it; lesions there are suppressed "
    "with the metal's streak zone, but the skeleton volume is wrong"))
def test_the_streaks_do_not_grow_the_skeleton(stem):
    volume, _, r, _, body = stem
    bone = detect_lesions(volume.hu, volume.affine, AnalysisParameters()).bone
    full = bone.full(volume.shape)
    vv = float(np.prod(SPACING))
    spill = np.count_nonzero(full & (r > 14.0) & body) * vv
    assert spill <= 0.1 * np.pi * 13.0**2 * volume.shape[2] * SPACING[2]
