"""Injury words that tell no injury, and history against the finding (own sentences)."""

import pytest

from calcdx.text import read_text


@pytest.mark.parametrize(
    "text",
    [
        "A 30-year-old woman with acute kidney injury had hard lumps at both elbows; "
        "radiographs showed calcified masses.",
        "A 9-year-old boy had bowed legs and knock knees; radiographs showed calcification "
        "in the soft tissues of the thigh.",
        "A 70-year-old woman on warfarin had a spontaneous haematoma of the thigh; CT "
        "showed a calcified rim around it.",
    ],
)
def test_words_that_name_no_injury_state_no_trauma(text):
    case = read_text(text).case
    assert not {"trauma_recent", "trauma_remote"} & set(case.clinical)


@pytest.mark.parametrize(
    "text",
    [
        "A 20-year-old man had a post-traumatic haematoma of the thigh two weeks ago; "
        "radiographs showed faint calcification.",
        "A 20-year-old man was kicked in the thigh two weeks ago; radiographs showed "
        "faint calcification.",
    ],
)
def test_an_injury_told_is_still_read(text):
    assert "trauma_recent" in read_text(text).case.clinical


@pytest.mark.parametrize(
    ("text", "absent"),
    [
        # said of the lump: a property of the lesion, not a statement that there is no pain
        ("A 40-year-old man had a painless lump on the forearm; radiographs showed "
         "calcification.", False),
        ("The mass was hard, mobile and not painful. CT showed calcification.", False),
        # said of the patient
        ("A 40-year-old man had no pain; radiographs showed calcification in the forearm.",
         True),
        ("He was pain-free. Radiographs showed calcification in the forearm.", True),
    ],
)
def test_a_painless_lump_is_not_an_absence_of_pain(text, absent):
    clinical_absent = set(read_text(text).case.clinical_absent)
    assert ({"acute_pain", "chronic_pain"} <= clinical_absent) is absent


def test_an_injury_told_twice_takes_the_time_told_once():
    case = read_text("A 30-year-old man had blunt trauma to the thigh. Radiographs eight months "
                     "after the injury showed mature ossification in the muscle.").case
    assert "trauma_remote" in case.clinical
    assert "trauma_recent" not in case.clinical


def test_an_injury_some_months_before_is_remote():
    case = read_text("He remembered a twisting injury of the knee some months before; the "
                     "radiograph showed a curvilinear calcification.").case
    assert case.clinical == ["trauma_remote"]


def test_an_operation_word_naming_a_service_or_the_operation_now_is_no_past_operation():
    case = read_text("A 60-year-old man was seen in the plastic surgery clinic with a hard "
                     "lump on the forearm; radiographs showed a calcified nodule.").case
    assert "surgery_local" not in case.clinical
    case = read_text("Radiographs before elbow surgery showed a calcified nodule in the "
                     "forearm.").case
    assert "surgery_local" not in case.clinical
    case = read_text("Two years after surgery on the forearm a hard lump appeared; "
                     "radiographs showed a calcified nodule.").case
    assert "surgery_local" in case.clinical


@pytest.mark.parametrize(
    "text",
    [
        # the patient's or a symptom's course, not the lesion's
        "A 40-year-old man, haemodynamically stable, had a calcified mass in the thigh.",
        "She remained stable after surgery; CT showed a calcified mass in the thigh.",
        "The pain resolved with rest. CT showed a calcified mass in the thigh.",
        # "an enlarged spleen": a size, not a growth
        "The patient had an enlarged spleen and a calcified mass in the thigh.",
        # "high-resolution CT" names the study
        "Unenhanced and high-resolution CT showed calcification in the lungs.",
    ],
)
def test_course_words_not_said_of_the_lesion_state_no_evolution(text):
    assert read_text(text).case.imaging.evolution is None


@pytest.mark.parametrize(
    ("text", "evolution"),
    [
        ("Follow-up CT showed growth of the calcified mass in the thigh.", "growing"),
        ("A calcified swelling of the thigh had been getting bigger over the past year.",
         "growing"),
        ("Eight months later the lesion had matured into an ossified nodule.", "maturing"),
        ("A calcification in front of C1; at follow-up it was no longer seen on CT.",
         "resolving"),
        ("The calcified mass remained stable for years.", "stable_long_term"),
    ],
)
def test_the_lesion_course_is_read(text, evolution):
    assert read_text(text).case.imaging.evolution == evolution
