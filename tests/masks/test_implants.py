"""Implants on analytic volumes: a cemented hip stem and an aortic stent graft.

Truth is the geometry drawn here.

Hip stem: a femoral shaft (cortex 4 mm at 1200 HU round fatty marrow) holding a
metal stem (3071 HU, the top of a 12-bit CT scale, as cobalt-chromium and
titanium stems reach) in a cement mantle (1800 HU: PMMA with barium sulphate),
bright and dark streaks radiating from the metal (+-500 HU, fading over about
12 mm, the alternating bands of beam hardening and photon starvation), and one
500 HU deposit 90 mm from the stem.

Stent graft: an aorta 24 mm across (blood 40 HU, native) carrying a Z-stent on
its wall (rings of zig-zag wire, 8 apices a ring, 15 mm tall, over 80 mm) and one
calcified wall plaque (600 HU) 12 mm below the stent's end. The struts are drawn
saturated (3071 HU, thick stainless-steel wire) or at 1500 HU (thin nitinol wire,
0.2-0.3 mm, blurred by partial volume below the 2500 HU metal threshold of
calcdx.analysis.AnalysisParameters).
"""

import numpy as np
import pytest
from scipy import ndimage as ndi

from calcdx.analysis import AnalysisParameters, analyze_volume
from calcdx.lesions.detect import detect_lesions
from calcdx.volume import Volume

SPACING = (0.8, 0.8, 2.0)
STENT_SPACING = (0.8, 0.8, 1.0)


def _grid(spacing, extent_mm):
    """Voxel-centre coordinates (mm) of a grid centred on 0, and a body of muscle in fat."""
    n = [round(e / s) for e, s in zip(extent_mm, spacing, strict=True)]
    axes = [(np.arange(k) - (k - 1) / 2) * s for k, s in zip(n, spacing, strict=True)]
    x, y, z = np.meshgrid(*axes, indexing="ij")
    hu = np.full(x.shape, -1000.0)
    half_x, half_y = extent_mm[0] / 2.0 - 5.0, extent_mm[1] / 2.0 - 5.0
    body = (x / half_x) ** 2 + (y / half_y) ** 2 <= 1.0
    hu[body] = -100.0
    hu[(x / (half_x - 5.0)) ** 2 + (y / (half_y - 5.0)) ** 2 <= 1.0] = 50.0
    return x, y, z, hu, body


def _hip_stem(spacing=SPACING, streak_hu=500.0):
    x, y, z, hu, body = _grid(spacing, (200.0, 160.0, 80.0))
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


def test_the_streaks_do_not_grow_the_skeleton(stem):
    volume, _, r, _, body = stem
    bone = detect_lesions(volume.hu, volume.affine, AnalysisParameters()).bone
    full = bone.full(volume.shape)
    vv = float(np.prod(SPACING))
    spill = np.count_nonzero(full & (r > 14.0) & body) * vv
    assert spill <= 0.1 * np.pi * 13.0**2 * volume.shape[2] * SPACING[2]


def _stent_graft(strut_hu):
    x, y, z, hu, _ = _grid(STENT_SPACING, (160.0, 140.0, 120.0))
    r = np.hypot(x - 10.0, y + 10.0)
    theta = np.arctan2(y + 10.0, x - 10.0)
    hu[r <= 12.0] = 40.0
    height = np.mod(z + 40.0, 15.0) / 15.0  # within a ring, 0..1
    zigzag = np.abs((theta / (2.0 * np.pi) * 8.0) % 1.0 - 0.5) * 2.0  # 0..1, 8 apices
    wire = (np.abs(r - 12.0) <= 0.6) & (np.abs(zigzag - height) <= 0.06) & (np.abs(z) <= 40.0)
    hu[wire] = strut_hu
    plaque = (np.abs(r - 12.5) <= 1.0) & (np.abs(theta - 1.0) <= 0.4) & (np.abs(z + 52.0) <= 3.0)
    hu[plaque] = 600.0
    return Volume(np.round(hu).astype(np.int16), np.diag([*STENT_SPACING, 1.0])), wire, plaque


@pytest.mark.parametrize("strut_hu", [3071, 1500])
def test_struts_are_not_lesions_and_the_plaque_beyond_is_found(strut_hu):
    volume, wire, plaque = _stent_graft(strut_hu)
    result = analyze_volume(volume)
    near_struts = ndi.binary_dilation(wire, iterations=2)
    assert not np.any(result.label_map[near_struts])
    found = set(np.unique(result.label_map[plaque])) - {0}
    assert len(found) == 1
    assert result.lesions[found.pop() - 1].volume_mm3 >= 0.8 * plaque.sum() * np.prod(STENT_SPACING)
