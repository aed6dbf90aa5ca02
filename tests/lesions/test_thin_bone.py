"""Thin bone of the head (calcdx.lesions.thin_bone) on a synthetic sinus wall.

The truth is the construction: a 1.5 mm plate at partial-volume density between a sinus's
air and the cheek's fat, joined to a block of skeleton, is bone; deposits in soft tissue,
on an air wall with tissue behind them, under the skin, far from the skeleton, at the
density of solid mineral, or in the thorax are lesions.
"""

import numpy as np
import pytest

from calcdx.lesions.detect import LesionVoxels
from calcdx.lesions.thin_bone import ThinBoneConfig, thin_bone_lesions
from calcdx.masks.bone import BoneResult

SPACING = (0.5, 0.5, 4.0)
SHAPE = (120, 120, 8)


def _lesion(hu, box, lid=1):
    ijk = np.argwhere(_mask(box)).astype(np.int32)
    return LesionVoxels(id=lid, ijk=ijk, hu=hu[tuple(ijk.T)].astype(np.float32),
                        origin="soft_tissue", touches_bone=False)


def _mask(box):
    m = np.zeros(SHAPE, bool)
    m[tuple(slice(a, b) for a, b in box)] = True
    return m


def _bone(box):
    filled = _mask(box)
    e = np.zeros((0, 0, 0), bool)
    return BoneResult((1,), (0, 0, 0), filled, filled, filled.astype(np.uint32), e,
                      float(filled.sum()) * float(np.prod(SPACING)))


@pytest.fixture(scope="module")
def scene():
    hu = np.full(SHAPE, 40.0, dtype=np.float32)  # soft tissue
    hu[:2] = hu[-2:] = hu[:, :2] = hu[:, -2:] = -1000.0  # room air round the patient
    hu[20:40, 20:60, :] = -1000.0  # sinus air
    hu[43:60, 20:60, :] = -100.0  # cheek fat
    hu[40:43, 20:60, :] = 250.0  # the sinus wall, 1.5 mm, partial volume in 4 mm slices
    hu[36:50, 60:70, :] = 1200.0  # skeleton the wall joins (the maxilla's body)
    hu[80:84, 80:84, 3:5] = 300.0  # a deposit in soft tissue, next to the skeleton below
    hu[76:80, 70:100, :] = -1000.0  # an airway ...
    hu[80:82, 86:92, 2] = 300.0  # ... a deposit on its wall, tissue behind it
    hu[2:6, 90:110, :] = -100.0  # subcutaneous fat under the room air
    hu[2:3, 90:110, 2] = 250.0  # a deposit at the skin, room air outside, fat inside
    bone = _bone(((36, 50), (60, 70), (0, 8)))
    bone.filled[78:90, 76:80, :] = True  # skeleton beside the tissue deposits
    bone.filled[0:12, 100:112, :] = True  # and beside the skin deposit
    return hu, bone


def _call(scene, lesions, regions=None):
    hu, bone = scene
    return thin_bone_lesions(lesions, regions or ["head_face"] * len(lesions), hu, SPACING,
                             bone)


def test_a_sinus_wall_fragment_joined_to_the_skeleton_is_thin_bone(scene):
    hu, _ = scene
    assert _call(scene, [_lesion(hu, ((40, 43), (40, 56), (3, 5)))]) == [True]


def test_deposits_in_tissue_on_an_air_wall_or_under_the_skin_are_kept(scene):
    hu, _ = scene
    lesions = [_lesion(hu, ((80, 84), (80, 84), (3, 5))),
               _lesion(hu, ((80, 82), (86, 92), (2, 3))),
               _lesion(hu, ((2, 3), (90, 110), (2, 3)))]
    assert _call(scene, lesions) == [False, False, False]


def test_the_wall_far_from_the_skeleton_dense_or_in_the_thorax_is_kept(scene):
    hu, bone = scene
    wall = _lesion(hu, ((40, 43), (22, 30), (3, 5)))  # 15 mm from the skeleton block
    assert _call(scene, [wall]) == [False]
    near = _lesion(hu, ((40, 43), (40, 56), (3, 5)))
    assert _call(scene, [near], ["thorax"]) == [False]  # pleural plaque between lung and fat
    dense = hu.copy()
    dense[40:43, 40:56, 3:5] = 1500.0  # solid mineral, not a plate's partial volume
    assert thin_bone_lesions([_lesion(dense, ((40, 43), (40, 56), (3, 5)))], ["head_face"],
                             dense, SPACING, bone) == [False]


def test_a_config_without_the_face_region_judges_nothing(scene):
    hu, bone = scene
    near = _lesion(hu, ((40, 43), (40, 56), (3, 5)))
    assert thin_bone_lesions([near], ["head_face"], hu, SPACING, bone,
                             ThinBoneConfig(regions=())) == [False]


def test_one_region_per_lesion_is_required(scene):
    hu, bone = scene
    with pytest.raises(ValueError, match="one region per lesion"):
        thin_bone_lesions([_lesion(hu, ((40, 43), (40, 56), (3, 5)))], [], hu, SPACING, bone)
