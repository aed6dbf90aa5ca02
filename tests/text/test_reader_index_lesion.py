"""Which words place and describe the index lesion (sentences written for these tests)."""

import pytest

from calcdx.text import read_text


@pytest.mark.parametrize(
    ("text", "region"),
    [
        # the history names where it hurts; the study names where the lesion is
        ("A 40-year-old man had low back pain for a year. Ultrasound found a large mass in "
         "the right retroperitoneum.", "retroperitoneum"),
        ("A boy fell on his outstretched arm and had pain in the leg and hip. The pelvic "
         "radiograph showed a bony fragment off the ischial tuberosity.", "pelvis"),
    ],
)
def test_a_place_a_study_names_comes_before_a_place_in_the_history(text, region):
    assert read_text(text).case.imaging.region == region


def test_a_place_in_the_history_is_kept_when_no_study_names_one():
    text = "A 60-year-old woman had a hard lump in the thigh. CT showed a calcified mass."
    assert read_text(text).case.imaging.region == "thigh"
