"""Extent from the places the lesions are named in (sentences written for these tests)."""

import pytest

from calcdx.text import read_text


@pytest.mark.parametrize(
    "text",
    [
        # the regions name the studies, not the lesion
        "AP pelvis, knee and ankle radiographs showed a calcified nodule beside the knee.",
        # one focus placed from several sides
        "The radiograph showed a focus of calcification beside the proximal humerus, at the "
        "insertion of pectoralis major next to the shoulder and the elbow flexors.",
    ],
)
def test_regions_named_around_one_lesion_are_not_spread(text):
    assert read_text(text).case.imaging.extent not in {"widespread", "multiple_regional"}


def test_vague_or_one_structure_words_state_no_extent():
    # "several" is a vague count (neither surely 2 to 5 nor surely more)
    case = read_text("Radiographs showed several calcified nodules in the soft tissues of "
                     "the forearm.").case
    assert case.imaging.extent is None
    # "diffuse" says how the mineral fills one tendon, not spread over the body
    case = read_text("Ultrasound showed diffuse calcification within the supraspinatus "
                     "tendon.").case
    assert case.imaging.extent != "widespread"
    case = read_text("Radiographs showed widespread calcified nodules in the limbs and "
                     "trunk.").case
    assert case.imaging.extent == "widespread"


def test_both_sides_without_symmetry_is_not_bilateral_symmetric():
    case = read_text("CT showed calcified masses on both sides of the neck, larger on the "
                     "left.").case
    assert "bilateral_symmetric" not in case.imaging.arrangement
    case = read_text("Radiographs showed symmetrical calcification around both "
                     "shoulders.").case
    assert "bilateral_symmetric" in case.imaging.arrangement


@pytest.mark.parametrize(
    ("text", "extent"),
    [
        # the history names the one lesion the study describes without a lesion noun
        ("A young man had a lesion in the upper thigh. Radiographs showed mature heterotopic "
         "bone in the upper thigh.", "solitary"),
        # plurals that count no lesions: negated, inside the lesion, the mineral's own word
        ("MRI showed a fatty mass with smooth borders, without nodules.", "solitary"),
        ("CT showed a large mass of fat density with round nodules inside it.", "solitary"),
        ("Ultrasound showed a gallbladder with a thick wall and several small stones; CT "
         "showed a calcified mass in the bowel.", "solitary"),
    ],
)
def test_one_lesion_is_read_past_plurals_that_count_none(text, extent):
    assert read_text(text).case.imaging.extent == extent


@pytest.mark.parametrize(
    "text",
    [
        # a guess is no lesion seen; foci around several joints are not one lesion
        "A man was referred for a suspected soft-tissue tumour. MRI showed band-like "
        "infiltration of the tendon and marrow replacement.",
        "She had a palpable mass on the shoulder. Radiographs showed amorphous "
        "calcifications in the soft tissues around the finger joints.",
        "The radiograph showed a rounded opacity at the lung apex, with further nodular "
        "opacities projected over the neck.",
    ],
)
def test_no_solitary_lesion_from_a_guess_or_from_more_foci(text):
    assert read_text(text).case.imaging.extent != "solitary"
