"""What a real head CT holds: the GE head series with gantry tilt, lesion by lesion.

``../shared/realct/dcmqa_ge_head_tilt`` (dcm_qa_ct, BSD 2-Clause; README in the shared
folder). The facts asserted were read from its images against anatomy (axial slices in soft
tissue and bone windows): both atria of the lateral ventricles hold a calcified choroid
plexus glomus, about 27 mm either side of the midline and 30-40 mm above the orbitomeatal
level (world RAS mm, the series' own frame: right -27, -18, 39 and left 26, -30, 40); the
posterior end of the third ventricle, in the midline, holds a small pineal-region
calcification (3, -14, 32); both vertebral arteries at the foramen magnum are calcified
(8, -24, -35 and -12, -19, -33). Fragments of thin bone lie in the face in 4 mm slices
(130-350 HU, partial volume of sub-millimetre plates): nasal septum and turbinates in the
nasal cavity's air, ethmoid plates, the walls of the maxillary sinuses, the lateral orbit
(positions in ``FACE_PLATES``, read on the images; they are not calcification). Truth
from anatomy, not from a run: the cranial contents lie deeper than the scalp and skull (over
10 mm from the skin), and no marrow of the skull lies more than a few millimetres from its
mineral (the vault and the skull base are thin).
"""

from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage as ndi

from calcdx.analysis import AnalysisParameters, analyze_volume
from calcdx.findings.derive import derive_groups
from calcdx.io import read_volume
from calcdx.lesions.detect import detect_lesions

SERIES = Path(__file__).resolve().parents[2] / ".." / "shared" / "realct" / "dcmqa_ge_head_tilt"

pytestmark = pytest.mark.skipif(
    not SERIES.is_dir(), reason="the shared GE head series ../shared/realct is absent"
)

CHOROID_RIGHT = (-27.0, -18.0, 39.0)
CHOROID_LEFT = (26.0, -30.0, 40.0)
PINEAL = (3.0, -14.0, 32.0)
VERTEBRAL_ARTERIES = [(8.0, -24.0, -35.0), (-12.0, -19.0, -33.0)]
# thin-bone fragments of the face read on the images (nasal septum, turbinates, ethmoid
# plates, maxillary sinus walls, lateral orbit)
FACE_PLATES = [(19, 54, 11), (10, 65, -1), (-14, 64, -6), (71, 63, 2), (44, 53, -5),
               (23, 66, 12), (9, 63, 12), (7, 55, 13), (6, 57, 1), (23, 55, -9),
               (33, 69, 4), (8, 52, 11), (21, 60, 10), (17, 58, -8),
               (24, 48, -19)]


@pytest.fixture(scope="module")
def volume():
    return read_volume(SERIES)


@pytest.fixture(scope="module")
def result(volume):
    return analyze_volume(volume)


def _near(result, point, mm):
    p = np.asarray(point)
    return [les for les in result.lesions
            if np.linalg.norm(np.asarray(les.centroid_mm) - p) <= mm]


@pytest.mark.parametrize("point", [CHOROID_RIGHT, CHOROID_LEFT, PINEAL])
def test_the_choroid_plexus_glomi_and_the_pineal_region_are_found_inside_the_skull(result,
                                                                                  point):
    found = _near(result, point, 8.0)
    assert found, f"no lesion within 8 mm of {point}"
    assert all(les.organ == "brain" and les.location == "organ" for les in found), found


def test_the_glomi_lie_on_both_sides_and_are_the_two_largest_intracranial_lesions(result):
    brain = sorted((les for les in result.lesions if les.organ == "brain"),
                   key=lambda les: -les.volume_mm3)
    assert len(brain) >= 3
    xs = [brain[0].centroid_mm[0], brain[1].centroid_mm[0]]
    assert min(xs) < -15 and max(xs) > 15  # one in each atrium


def test_only_deep_lesions_are_intracranial(result):
    for les in result.lesions:
        skin = les.context.skin_distance_mm
        if les.organ == "brain":
            assert skin is not None and skin > 10.0, les
        if skin is not None and skin <= 10.0:
            assert les.organ != "brain", les


def test_the_intracranial_lesions_are_one_finding_read_as_physiological(result):
    groups = derive_groups(result)
    brain_ids = {les.id for les in result.lesions if les.organ == "brain"}
    cranial = [g for g in groups if set(g.lesion_ids) == brain_ids]
    assert len(cranial) == 1
    assert cranial[0].imaging["organ"] == "brain"
    assert cranial[0].imaging["region"] == "head_face"


def test_no_brain_is_taken_for_skull_marrow(volume):
    hu = np.asarray(volume.hu)
    det = detect_lesions(hu, volume.affine, AnalysisParameters(), metadata=volume.metadata)
    bone = det.bone.full(hu.shape)
    sx, sy, _ = volume.spacing_mm
    # in-plane distance of each voxel to the nearest mineral voxel of its slice
    far = np.zeros(hu.shape, dtype=bool)
    for k in range(hu.shape[2]):
        d = ndi.distance_transform_edt(hu[:, :, k] < 130, sampling=(sx, sy))
        far[:, :, k] = d > 5.0
    soft_far_cm3 = float(np.count_nonzero(bone & far & (hu < 80))) * float(
        np.prod(volume.spacing_mm)) / 1000.0
    # before the cavity rule: 51 cm^3 (temporal lobes, cerebellum, brain at the convexity)
    assert soft_far_cm3 < 10.0, soft_far_cm3


@pytest.mark.parametrize("point", VERTEBRAL_ARTERIES)
def test_the_vertebral_arteries_at_the_foramen_magnum_are_found(result, point):
    assert _near(result, point, 6.0), f"no lesion within 6 mm of {point}"


def test_the_face_plates_are_not_reported(result):
    reported = [p for p in FACE_PLATES if _near(result, p, 4.0)]
    assert not reported, reported
    assert result.masks.excluded["thin_bone_components"] >= len(FACE_PLATES)
