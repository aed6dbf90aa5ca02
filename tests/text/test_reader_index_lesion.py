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


def test_a_comma_before_and_after_one_negated_item_ends_the_negation():
    case = read_text("The wrist radiograph showed joint narrowing but no osteophytes, and "
                     "linear calcifications in the triangular fibrocartilage.").case
    assert case.imaging.matrix == "calcification"
    assert "linear" in case.imaging.pattern
    # a list of three or more keeps its comma before "and": all of it is negated
    case = read_text("There was no fever, no weight loss, and no calcification; CT showed "
                     "a soft-tissue mass in the thigh.").case
    assert case.imaging.matrix is None
    assert "fever" in case.clinical_absent


@pytest.mark.parametrize(
    "text",
    [
        "A knee radiograph taken for the patient's pain showed linear calcifications "
        "around the joint.",
        "MRI showed a mass in the calf, at first taken for a haematoma; CT showed "
        "calcification.",
    ],
)
def test_a_study_taken_for_the_symptoms_is_not_an_uncertain_finding(text):
    assert read_text(text).case.imaging.matrix == "calcification"


@pytest.mark.parametrize(
    ("text", "mass"),
    [
        # the deposit is the mass, whatever describing words come before it
        ("The elbow radiograph showed a well-defined, lobulated calcified mass beside the "
         "joint.", False),
        ("Radiographs showed a large, dense calcified mass around the hip.", False),
        # a mass that holds mineral is a soft-tissue mass
        ("CT showed a partly calcified mass in the thigh.", True),
        ("CT showed a mass with calcified foci in the thigh.", True),
    ],
)
def test_a_calcified_mass_is_the_deposit_unless_partly_so(text, mass):
    associated = read_text(text).case.imaging.associated
    assert ("soft_tissue_mass" in associated) is mass


@pytest.mark.parametrize(
    ("text", "field", "value"),
    [
        ("A panoramic radiograph showed round calcifications in the soft tissues below "
         "the mandible.", "region", "neck"),
        ("A magnification view of the right breast showed a curved calcification.",
         "modality", "radiograph"),
        ("A magnification view of the right breast showed a curved calcification.",
         "region", "breast"),
        ("The lateral radiograph showed an accessory bone beside the navicular.", "matrix",
         "ossification"),
        ("The pelvic radiograph showed an avulsed fragment at the ischial tuberosity.",
         "matrix", "ossification"),
    ],
)
def test_radiology_wording_for_place_study_and_matrix(text, field, value):
    assert getattr(read_text(text).case.imaging, field) == value


@pytest.mark.parametrize(
    ("text", "value", "read"),
    [
        # contrast leaking from an artery is bleeding, not calcium extravasation
        ("CT angiography showed arterial extravasation beside a calcified mass in the "
         "calf.", "iv_calcium_extravasation", False),
        ("After extravasation of intravenous calcium at the wrist, radiographs showed "
         "calcification in the soft tissues.", "iv_calcium_extravasation", True),
        # a risk of a disease is not the disease
        ("A woman at high risk of breast cancer came for screening; the mammogram showed "
         "coarse calcifications in both breasts.", "malignancy_known", False),
        ("A woman with breast cancer had a mammogram showing coarse calcifications.",
         "malignancy_known", True),
        ("A girl had congenital deformities of both great toes and hard swellings of the "
         "back; CT showed ossification in the muscles.", "great_toe_malformation", True),
    ],
)
def test_history_wording(text, value, read):
    assert (value in read_text(text).case.clinical) is read


@pytest.mark.parametrize(
    ("text", "region"),
    [
        ("A radiograph showed a bony fragment pulled off the anterior inferior iliac "
         "spine.", None),
        ("Radiographs showed calcification at the ischial tuberosity.", "pelvis"),
        ("CT showed calcification at the back of the femur, where the gluteus maximus "
         "inserts.", "thigh"),
    ],
)
def test_a_tendon_origin_or_insertion_is_the_enthesis(text, region):
    imaging = read_text(text).case.imaging
    assert imaging.location == "tendon_enthesis"
    assert imaging.region == region


@pytest.mark.parametrize(
    ("text", "value", "read"),
    [
        ("MRI showed a calcified mass in the calf that enhanced strongly after contrast.",
         "enhancing_solid_component", True),
        ("Contrast-enhanced CT showed a calcified nodule in the calf.",
         "enhancing_solid_component", False),
        ("MRI showed a calcified mass in the thigh invading the cortex of the femur.",
         "bone_destruction", True),
    ],
)
def test_enhancement_and_invasion_wording(text, value, read):
    assert (value in read_text(text).case.imaging.associated) is read


@pytest.mark.parametrize(
    ("text", "region"),
    [
        # in front of the cervical vertebrae is the prevertebral space of the neck
        ("CT of the cervical spine showed amorphous calcification in front of C1 and C2.",
         "neck"),
        ("CT showed a calcific deposit anterior to the C2 body.", "neck"),
        # in front of a lumbar vertebra says no region by itself
        ("CT showed a calcified nodule in front of L3.", None),
    ],
)
def test_in_front_of_the_cervical_spine_is_the_neck(text, region):
    assert read_text(text).case.imaging.region == region


@pytest.mark.parametrize(
    ("text", "region"),
    [
        ("Twenty days later she came back with a lump on the leg. The radiograph showed a "
         "curved density.", "lower_leg"),
        ("CT showed a round calcified mass, smooth in front and uneven at its back.", None),
    ],
)
def test_back_as_an_adverb_or_a_side_of_the_lesion_is_not_the_back(text, region):
    assert read_text(text).case.imaging.region == region


@pytest.mark.parametrize(
    ("text", "within"),
    [
        ("The mammogram showed linear calcifications; there was no mass, suspicious "
         "calcification or distortion.", False),
        ("CT showed calcification, a mass and an effusion at the knee.", False),
        ("CT showed a mass in the thigh containing coarse calcification.", True),
    ],
)
def test_a_mass_listed_beside_the_mineral_does_not_hold_it(text, within):
    assert (read_text(text).case.imaging.location == "within_mass") is within
