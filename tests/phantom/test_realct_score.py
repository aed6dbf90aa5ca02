"""score_against_labels on a hand-built volume whose answer is known by construction."""

import numpy as np
import pytest

from calcdx.phantom.realct import score_against_labels

CLASSES = {1: "rib_left_1", 2: "aorta", 3: "costal_cartilages"}


def _case():
    """Body of 40 HU; a labelled rib (800 HU) whose unlabelled end runs on at 800 HU; an
    aorta label (200 HU) whose unlabelled lumen runs on at 200 HU; a faint deposit apart."""
    hu = np.full((60, 60, 10), 40, dtype=np.int16)
    hu[:2], hu[-2:] = -1000, -1000  # air beside the body
    labels = np.zeros(hu.shape, dtype=np.int16)
    hu[10:30, 10:14, 3:7] = 800
    labels[10:20, 10:14, 3:7] = 1  # rib labelled over its first half only
    hu[40:50, 40:46, 2:8] = 200
    labels[40:45, 40:46, 2:8] = 2  # lumen labelled over its first half only
    hu[30:34, 45:49, 4:6] = 300  # a deposit, 32 voxels, in no label
    return hu, labels


def test_strict_reference_leaves_out_unlabelled_bone_and_lumen_only():
    hu, labels = _case()
    none = np.zeros(hu.shape, dtype=np.uint8)
    score = score_against_labels(hu, 1.0, none, np.zeros(hu.shape, bool), labels, CLASSES,
                                 enhanced=True)
    # old reference: rib end beyond the one-voxel rim (9 x 4 x 4), the unlabelled
    # lumen (5 x 6 x 6) and the deposit (32)
    assert score.reference_mm3 == pytest.approx(9 * 16 + 180 + 32)
    assert score.unlabelled_bone_mm3 == pytest.approx(9 * 16)
    assert score.lumen_contiguous_mm3 == pytest.approx(180)
    assert score.strict_reference_mm3 == pytest.approx(32)


def test_native_scan_counts_no_lumen():
    hu, labels = _case()
    none = np.zeros(hu.shape, dtype=np.uint8)
    score = score_against_labels(hu, 1.0, none, np.zeros(hu.shape, bool), labels, CLASSES,
                                 enhanced=False)
    assert score.lumen_contiguous_mm3 == 0.0
    assert score.strict_reference_mm3 == pytest.approx(score.reference_mm3 - 9 * 16)
