"""The cranial cavity read from the skull (calcdx.measure.cranial), on drawn skulls.

Truth by construction: a ring of bone around brain-density tissue over many slices is a
skull with its cavity; a small ring (an orbit) or a ring around air (sinus, empty phantom)
is not; a small section under the big ones, joined to them across the slices, is the
posterior fossa and belongs to the cavity.
"""

import numpy as np
import pytest

from calcdx.errors import InputError
from calcdx.measure.cranial import CranialConfig, cranial_cavity, intracranial_fraction

SPACING = (1.0, 1.0, 4.0)


def _skull(inside_hu: float = 35.0):
    """A 160 x 160 x 10 grid: slices 3-9 a skull ring of radius 60-66 mm around tissue."""
    hu = np.full((160, 160, 10), -1000.0, dtype=np.float32)
    bone = np.zeros(hu.shape, dtype=bool)
    yy, xx = np.mgrid[:160, :160]
    r = np.hypot(yy - 80, xx - 80)
    for k in range(3, 10):
        hu[:, :, k][r < 70] = 20.0  # scalp
        hu[:, :, k][r < 60] = inside_hu
        bone[:, :, k] = (r >= 60) & (r < 66)
    return hu, bone, r


def test_the_brain_inside_a_skull_ring_is_the_cavity_and_the_scalp_is_not():
    hu, bone, r = _skull()
    cav = cranial_cavity(bone, hu, SPACING)
    assert cav[:, :, 5][r < 59].all()
    assert not cav[:, :, 5][r > 67].any()
    assert not cav[:, :, :3].any()


def test_a_small_section_joined_across_the_slices_belongs_and_an_orbit_does_not():
    hu, bone, _ = _skull()
    yy, xx = np.mgrid[:160, :160]
    # slice 2: a posterior-fossa section, 20 mm across, under the big ring
    fossa = np.hypot(yy - 80, xx - 80) < 10
    ring = (np.hypot(yy - 80, xx - 80) >= 10) & (np.hypot(yy - 80, xx - 80) < 14)
    hu[:, :, 2][fossa] = 35.0
    bone[:, :, 2] = ring
    bone[:, :, 2][np.hypot(yy - 80, xx - 80) >= 14] = False
    # slice 1: an orbit-like ring elsewhere, open to the face in slice 2 (not enclosed there)
    orbit = np.hypot(yy - 30, xx - 30) < 15
    bone[:, :, 1] = (np.hypot(yy - 30, xx - 30) >= 15) & (np.hypot(yy - 30, xx - 30) < 18)
    hu[:, :, 1][orbit] = 35.0
    cav = cranial_cavity(bone, hu, SPACING)
    assert cav[:, :, 2][fossa].all()
    assert not cav[:, :, 1][orbit].any()


def test_a_ring_round_air_is_no_cavity():
    hu, bone, _ = _skull(inside_hu=-1000.0)  # an empty phantom skull, or sinus air
    assert not cranial_cavity(bone, hu, SPACING).any()


def test_a_seed_needs_the_configured_area():
    hu, bone, _ = _skull()
    big = CranialConfig(min_area_mm2=20000.0)  # above the drawn ring's 11,300 mm^2
    assert not cranial_cavity(bone, hu, SPACING, config=big).any()


def test_fraction_reads_the_crop_offset_and_bad_input_is_named():
    cav = np.zeros((4, 4, 4), dtype=bool)
    cav[1, 1, 1] = True
    ijk = np.array([[11, 21, 31], [12, 22, 32]])
    assert intracranial_fraction(cav, ijk, (10, 20, 30)) == 0.5
    assert intracranial_fraction(cav, np.array([[0, 0, 0]]), (10, 20, 30)) == 0.0
    with pytest.raises(InputError, match="one shape"):
        cranial_cavity(np.zeros((3, 3, 3), bool), np.zeros((3, 3, 2)), SPACING)
