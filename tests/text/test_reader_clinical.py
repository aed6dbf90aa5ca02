"""Symptoms and history the reader must not over-read (sentences written for these tests)."""

import pytest

from calcdx.text import read_text


def test_a_duration_far_from_the_pain_does_not_time_it():
    reading = read_text(
        "A long-standing diabetic woman on insulin, with good control of her blood sugar, "
        "had pain in the shoulder; radiographs showed calcification in the supraspinatus "
        "tendon."
    )
    assert "diabetes" in reading.case.clinical
    assert "chronic_pain" not in reading.case.clinical
    reading = read_text(
        "She had shoulder pain for many years; radiographs showed calcification in the "
        "supraspinatus tendon."
    )
    assert "chronic_pain" in reading.case.clinical


@pytest.mark.parametrize(
    "text",
    [
        "The foot had palpable pulses, and radiographs showed calcification in the heel.",
        "There were no palpable lymph nodes, and radiographs showed calcification in the heel.",
    ],
)
def test_palpable_pulses_or_nodes_are_no_mass(text):
    case = read_text(text).case
    assert "palpable_mass" not in case.clinical
    assert "palpable_mass" not in case.clinical_absent


def test_red_marrow_is_no_inflammation():
    case = read_text("MRI showed red marrow around a calcified focus in the femur.").case
    assert "local_inflammation" not in case.clinical


def test_a_body_mass_index_is_not_obesity_by_itself():
    assert "obesity" not in read_text(
        "A woman with a BMI of 22 had a calcified nodule in the thigh.").case.clinical
    assert "obesity" in read_text(
        "An obese woman had a calcified nodule in the thigh.").case.clinical


def test_a_pathological_fracture_tells_no_injury():
    case = read_text(
        "Radiographs showed a pathological fracture through a calcified lesion of the femur."
    ).case
    assert not {"trauma_recent", "trauma_remote"} & set(case.clinical)


def test_found_by_chance_in_a_patient_with_symptoms_is_not_asymptomatic():
    case = read_text(
        "A man with fever and abdominal pain had CT, which incidentally showed a calcified "
        "nodule in the spleen."
    ).case
    assert "asymptomatic" not in case.clinical
    case = read_text(
        "CT for staging incidentally showed a calcified nodule in the spleen."
    ).case
    assert "asymptomatic" in case.clinical



def test_the_surrounding_fat_is_not_fat_in_the_lesion():
    case = read_text(
        "Ultrasound showed a calcified focus in the thigh, and the fat around it was "
        "echogenic."
    ).case
    assert "fat_in_lesion" not in case.imaging.associated
    case = read_text("CT showed a calcified mass in the thigh containing fat.").case
    assert "fat_in_lesion" in case.imaging.associated


def test_erosions_of_the_skin_are_not_bone_erosion():
    case = read_text(
        "He had erosions and ulcers of the skin over the heel; radiographs showed "
        "calcification in the heel pad."
    ).case
    assert "bone_erosion" not in case.imaging.associated


def test_prevertebral_oedema_is_the_retropharyngeal_effusion_finding():
    case = read_text(
        "CT showed calcification in front of C2, and MRI showed prevertebral oedema."
    ).case
    assert "retropharyngeal_effusion" in case.imaging.associated


@pytest.mark.parametrize(
    ("text", "size_mm"),
    [
        ("The ESR was 30 mm/h, and radiographs showed a 12 mm calcified nodule in the thigh.",
         12),
        ("Blood pressure was 150 mmHg; CT showed a 9 mm calcified nodule in the thigh.", 9),
        ("CT showed a calcified fragment pulled about 2 cm downward from the iliac spine.",
         None),
        ("A 5 mm ulcer lay over a calcified nodule of 14 mm in the heel.", 14),
        ("A 6 cm scar lay over a 3 cm calcified mass in the thigh.", 30),
    ],
)
def test_lengths_of_something_else_are_not_the_size(text, size_mm):
    assert read_text(text).case.imaging.size_mm == size_mm


def test_remote_said_of_a_place_does_not_time_an_injury():
    case = read_text(
        "A woman from a remote rural area had a fall on the right leg; radiographs showed "
        "calcification in the calf."
    ).case
    assert "trauma_remote" not in case.clinical
    assert "trauma_recent" in case.clinical


def test_inflammation_seen_on_imaging_is_not_the_clinical_sign():
    case = read_text(
        "CT showed calcification around the dens, and MRI showed signs of active "
        "inflammation around it."
    ).case
    assert "local_inflammation" not in case.clinical
    case = read_text(
        "The finger was red and inflamed; radiographs showed calcification in the pulp."
    ).case
    assert "local_inflammation" in case.clinical


def test_an_injured_patient_found_incidentally_to_have_a_lesion_is_not_asymptomatic():
    case = read_text(
        "After a car accident, CT incidentally showed calcified nodules in the liver."
    ).case
    assert "asymptomatic" not in case.clinical


def test_no_injury_in_an_acute_presentation_denies_a_recent_one_only():
    case = read_text(
        "She had sudden severe shoulder pain and no history of trauma; radiographs showed "
        "calcification in the supraspinatus tendon."
    ).case
    assert "trauma_recent" in case.clinical_absent
    assert "trauma_remote" not in case.clinical_absent
    case = read_text(
        "She had a painless lump and no history of trauma; radiographs showed calcification "
        "in the thigh."
    ).case
    assert {"trauma_recent", "trauma_remote"} <= set(case.clinical_absent)


@pytest.mark.parametrize(
    ("duration", "value"),
    [
        ("three days", "acute_pain"),
        ("two weeks", "acute_pain"),
        ("five weeks", None),  # subacute: 4 weeks to 3 months
        ("six months", "chronic_pain"),
    ],
)
def test_a_pains_duration_classes_it(duration, value):
    case = read_text(
        f"She had {duration} of pain in the shoulder; radiographs showed calcification in "
        "the supraspinatus tendon."
    ).case
    pains = {"acute_pain", "chronic_pain"} & set(case.clinical)
    assert pains == ({value} if value else set())
