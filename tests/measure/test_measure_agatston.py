import numpy as np
import pytest

from calcdx.measure.agatston import agatston_rules, agatston_score, density_weight, mass_score


def test_weights_follow_peak_bands():
    assert [density_weight(h) for h in (129.9, 130, 199, 200, 299, 300, 399, 400, 3000)] == [
        0, 1, 1, 2, 2, 3, 3, 4, 4,
    ]


def test_hand_computed_agatston():
    # Pixel 0.5 x 0.5 mm (0.25 mm^2), slice spacing 1.5 mm -> factor 1.5 / 3 = 0.5.
    # Slice k=0: 8 voxels, peak 250 HU -> area 2.0 mm^2, weight 2 -> 2.0 * 2 * 0.5 = 2.0
    # Slice k=1: 12 voxels, peak 450 HU -> area 3.0 mm^2, weight 4 -> 3.0 * 4 * 0.5 = 6.0
    # Slice k=2: 3 voxels, peak 900 HU -> area 0.75 mm^2 < 1 mm^2 -> 0
    # Slice k=3: 4 voxels, peak 150 HU -> area 1.0 mm^2 (kept, >=), weight 1 -> 0.5
    # Total = 2.0 + 6.0 + 0 + 0.5 = 8.5
    ijk, hu = [], []
    for k, n, peak in ((0, 8, 250), (1, 12, 450), (2, 3, 900), (3, 4, 150)):
        for v in range(n):
            ijk.append((v, 0, k))
            hu.append(140 if v else peak)
    score = agatston_score(np.array(ijk), np.array(hu, float), (0.5, 0.5, 1.5))
    assert score == pytest.approx(8.5)


def test_agatston_3mm_slices_unnormalised():
    # 3 mm slices: factor 1; one slice 10 voxels of 1 mm^2 at peak 320 -> 10 * 3 = 30.
    ijk = np.array([(i, 0, 0) for i in range(10)])
    assert agatston_score(ijk, np.full(10, 320.0), (1.0, 1.0, 3.0)) == pytest.approx(30.0)


def test_mass_and_rules():
    assert mass_score(400.0, 2000.0) == pytest.approx(800.0)  # 400 HU x 2 cm^3
    assert mass_score(400.0, 2000.0, 0.8) == pytest.approx(640.0)
    rules = agatston_rules()
    assert rules["threshold_comparison"] == ">=" and rules["min_area_mm2_per_slice"] == 1.0
    assert "relative" in rules["mass_unit"]
