"""Associated findings in the words radiology reports use (sentences written for these tests)."""

import pytest

from calcdx.text import read_text


@pytest.mark.parametrize(
    ("words", "value"),
    [
        ("corticomedullary continuity with the femur", "continuity_with_bone"),
        ("a lucent zone of separation from the cortex", "cleft_from_bone"),
        ("a Codman triangle", "periosteal_reaction"),
        ("a moth-eaten pattern of the cortex", "bone_destruction"),
        ("a lipohaemarthrosis", "joint_effusion"),
        ("pyelectasis on the right", "hydronephrosis"),
        ("a discharging sinus over it", "skin_ulceration"),
        ("reduced joint space", "joint_space_narrowing"),
        ("an uncalcified mass around it", "soft_tissue_mass"),
    ],
)
def test_radiology_wording_reads_the_associated_value(words, value):
    case = read_text(f"CT showed calcification in the thigh with {words}.").case
    assert value in case.imaging.associated


def test_a_verb_of_erosion_states_bone_erosion_only_when_bone_is_eroded():
    case = read_text("CT showed a calcified mass eroding the front of the acetabular roof.").case
    assert "bone_erosion" in case.imaging.associated
    case = read_text("CT showed a calcified stone that had eroded into the bowel.").case
    assert "bone_erosion" not in case.imaging.associated
    case = read_text("CT showed a calcified mass destroying the third rib.").case
    assert "bone_destruction" in case.imaging.associated


def test_the_patients_own_teeth_are_no_tooth_in_the_lesion():
    case = read_text("A panoramic radiograph showed a calcified stone below his lower teeth.").case
    assert "tooth_like_component" not in case.imaging.associated
    case = read_text("CT showed a pelvic mass with fat and two teeth inside it.").case
    assert "tooth_like_component" in case.imaging.associated


@pytest.mark.parametrize(
    ("words", "pattern"),
    [
        ("a serpentine calcification", "serpiginous_coiled"),
        ("calcifications shaped like grains of rice", "rice_grain"),
        ("a denser periphery and a faint centre", "zonal_peripheral"),
        ("a calcified centre", "central_dense"),
        ("a mulberry outline", "lobulated_chalky"),
        ("layering sediment", "fluid_calcium_level"),
        ("calcification like a railroad track", "tram_track"),
        ("a meshwork of calcification", "net_like"),
        ("mural calcification", "eggshell_rim"),
        ("a half-moon calcification", "crescent"),
        ("toothpaste-like calcium", "amorphous_cloudy"),
    ],
)
def test_radiology_wording_reads_the_pattern(words, pattern):
    case = read_text(f"CT showed a mass in the thigh with {words}.").case
    assert pattern in case.imaging.pattern


def test_foci_inside_one_thickening_are_not_a_count_of_lesions():
    case = read_text(
        "The radiograph showed a firm thickening of the thumb pulp containing "
        "multiple foci of dense calcification."
    ).case
    assert case.imaging.extent != "multiple_regional"
    case = read_text("Radiographs showed multiple calcified nodules in both hands.").case
    assert case.imaging.extent == "multiple_regional"
