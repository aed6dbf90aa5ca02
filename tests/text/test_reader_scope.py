"""What the reader must not read: scope of negation, the differential, the operation on
the lesion, structures the lesion lies apart from (sentences written for these tests)."""

import pytest

from calcdx.text import read_text


def test_a_negation_does_not_reach_a_finding_far_beyond_it():
    # NegEx's window: "no" governs the next few words, not the end of the sentence
    reading = read_text(
        "No trauma was recalled by the patient during the first visit to the clinic, "
        "diabetes being treated, and a calcified nodule lay in the calf."
    )
    assert {"trauma_recent", "trauma_remote"} <= set(reading.case.clinical_absent)
    assert "diabetes" in reading.case.clinical
    assert "diabetes" not in reading.case.clinical_absent


def test_a_negated_list_stays_negated_item_by_item():
    reading = read_text(
        "She had no fever, weight loss, diabetes or gout. Radiographs showed a calcified "
        "mass in the forearm."
    )
    assert {"fever", "diabetes", "gout"} <= set(reading.case.clinical_absent)
    assert not {"fever", "diabetes", "gout"} & set(reading.case.clinical)


def test_a_request_to_rule_out_is_not_an_absence():
    reading = read_text(
        "A radiograph of the foot was requested to rule out gout and showed a calcified "
        "nodule beside the first toe."
    )
    assert "gout" not in reading.case.clinical_absent
    assert "gout" not in reading.case.clinical
    reading = read_text(
        "Gout was ruled out, and a radiograph showed a calcified nodule beside the first toe."
    )
    assert "gout" in reading.case.clinical_absent


@pytest.mark.parametrize(
    "text",
    [
        "CT showed a calcified mass in the pelvis; a lymphoma was suspected before the biopsy.",
        "Radiographs showed calcification in the thigh that can mimic a sarcoma.",
        "The differential diagnosis of the calcified mass in the thigh included a sarcoma.",
    ],
)
def test_a_diagnosis_weighed_in_the_differential_is_not_a_finding(text):
    case = read_text(text).case
    assert "malignancy_known" not in case.clinical
    assert "malignancy_known" not in case.clinical_absent


def test_the_operation_that_removed_the_lesion_is_not_past_surgery():
    reading = read_text(
        "A 40-year-old woman had a calcified nodule in the forearm on radiographs. At "
        "surgery the nodule measured 2 cm."
    )
    assert "surgery_local" not in reading.case.clinical
    reading = read_text(
        "A 40-year-old woman had a calcified nodule in the forearm on radiographs, where "
        "she had had surgery ten years earlier."
    )
    assert "surgery_local" in reading.case.clinical


def test_a_structure_the_mass_lies_apart_from_is_not_its_place():
    reading = read_text(
        "A firm calcified mass in the buttock lay free from the skin on ultrasound."
    )
    assert reading.case.imaging.location != "skin_dermis"
    assert reading.case.imaging.region == "gluteal"


def test_an_organ_described_for_its_own_state_is_not_the_lesions_organ():
    reading = read_text(
        "CT showed a 9 mm calcified stone in the duct of the floor of the mouth, and the "
        "submandibular gland was atrophic."
    )
    assert reading.case.imaging.organ != "salivary_gland"


def test_adnexal_is_not_read_as_the_ovary():
    reading = read_text("Ultrasound showed a calcified adnexal mass with fat.")
    assert reading.case.imaging.region == "pelvis"
    assert reading.case.imaging.organ is None


def test_growing_out_of_an_organ_is_where_it_extends_not_a_change():
    reading = read_text("CT showed a calcified mass growing out of the liver.")
    assert reading.case.imaging.evolution is None
    reading = read_text("On follow-up CT the calcified mass was growing.")
    assert reading.case.imaging.evolution == "growing"


def test_a_relatives_body_parts_are_not_where_the_lesion_is():
    reading = read_text(
        "Her brother had hard lumps in the upper arm. Radiographs showed ossified plaques "
        "under the skin."
    )
    assert reading.case.imaging.region != "upper_arm"
    assert reading.case.imaging.location == "subcutaneous"


def test_a_compartment_named_away_from_the_lesion_is_not_its_location():
    reading = read_text(
        "A 30-year-old man had long-standing muscle cramps. Radiographs showed a calcified "
        "nodule in the thigh."
    )
    assert reading.case.imaging.location is None
    assert reading.case.imaging.region == "thigh"


def test_the_part_of_a_toe_is_placed_by_the_toe():
    reading = read_text(
        "The radiograph showed a calcified nodule beside the proximal phalanx of the great toe."
    )
    assert reading.case.imaging.region == "foot_toes"


def test_a_place_word_that_premodifies_another_names_nothing_itself():
    reading = read_text("CT showed ossified densities in the small-bowel mesentery.")
    assert reading.case.imaging.location == "peritoneum_serosa"
    assert reading.case.imaging.organ is None


@pytest.mark.parametrize(
    "text",
    [
        "CT showed a calcified mass in the flank; there was no liver abnormality.",
        "CT showed a calcified mass in the flank that can be confused with a liver tumour.",
    ],
)
def test_a_place_said_to_hold_nothing_or_weighed_is_not_the_lesions(text):
    imaging = read_text(text).case.imaging
    assert imaging.organ != "liver"
    assert imaging.location != "organ"


def test_not_separable_from_an_organ_places_the_lesion_there():
    imaging = read_text(
        "CT showed a calcified mass not separable from the tail of the pancreas."
    ).case.imaging
    assert imaging.organ == "pancreas"


def test_a_new_finding_ends_the_scope_of_a_negation():
    imaging = read_text(
        "Radiographs showed no new fracture, and incidentally the superficial femoral "
        "arteries were calcified."
    ).case.imaging
    assert imaging.location == "artery"


def test_a_region_named_only_for_a_disease_is_not_the_lesions():
    reading = read_text(
        "A man had long-standing gout of both ankles. CT showed a calcified nodule with "
        "bone erosion."
    )
    assert reading.case.imaging.region is None
    reading = read_text(
        "A man had a hard lump over the ankle. CT showed a calcified nodule with bone erosion."
    )
    assert reading.case.imaging.region == "ankle"


def test_a_joint_word_then_a_describing_word_ends_the_negated_list():
    imaging = read_text(
        "MRI showed a calcified mass in the thigh with no surrounding oedema, and vivid "
        "enhancement."
    ).case.imaging
    assert "soft_tissue_oedema" in imaging.associated_absent
    assert "enhancing_solid_component" in imaging.associated
    imaging = read_text(
        "CT showed a calcified mass in the thigh with no oedema, erosion or enhancement."
    ).case.imaging
    assert {"soft_tissue_oedema", "bone_erosion", "enhancing_solid_component"} <= set(
        imaging.associated_absent)


def test_the_other_side_is_not_where_the_lesion_is():
    reading = read_text(
        "She had had a similar lump removed from the other knee. Radiographs now showed a "
        "calcified nodule in the thigh."
    )
    assert reading.case.imaging.region == "thigh"
    reading = read_text("A calcified nodule was compared with the contralateral hip.")
    assert reading.case.imaging.region is None


@pytest.mark.parametrize(
    ("text", "evolution"),
    [
        ("CT showed an enlarged prostate with calcification.", None),
        ("The gland was enlarged and CT showed a calcified stone.", None),
        ("On follow-up radiographs the calcified lesion enlarged over two years.", "growing"),
        ("Over the next months the calcified lesion enlarged.", "growing"),
        ("The calcified mass had enlarged since the previous CT.", "growing"),
    ],
)
def test_enlarged_as_a_state_is_no_growth(text, evolution):
    assert read_text(text).case.imaging.evolution == evolution


def test_a_vertebral_level_gives_height_not_place():
    reading = read_text(
        "CT showed calcification at the level of C1-C2 with a retropharyngeal fluid "
        "collection."
    )
    assert reading.case.imaging.region != "spine_paraspinal"
    reading = read_text("CT showed calcification of the disc at C5-C6.")
    assert reading.case.imaging.region == "spine_paraspinal"


def test_painless_among_the_felt_qualities_of_a_lump_is_said_of_the_lump():
    # the lump is named in the sentence before; "painless" is one of what was felt
    case = read_text("A 52-year-old woman had a swelling above the left clavicle for a year. "
                     "On examination it was firm, mobile and painless. CT showed a "
                     "calcified node.").case
    assert "acute_pain" not in case.clinical_absent
    assert "chronic_pain" not in case.clinical_absent
    # the patient's own pain stated as absent still is
    case = read_text("She had no pain. CT showed a calcified node above the clavicle.").case
    assert {"acute_pain", "chronic_pain"} <= set(case.clinical_absent)


def test_the_skin_named_for_its_own_sign_is_not_the_compartment():
    case = read_text("A 35-year-old man with scleroderma had thickened skin of the hands. "
                     "Radiographs showed calcification in the soft tissue of the "
                     "fingertips.").case
    assert case.imaging.location != "skin_dermis"
    case = read_text("The skin over the swelling was red and shiny; radiographs showed a "
                     "calcified mass beside the knee.").case
    assert case.imaging.location != "skin_dermis"
    case = read_text("CT showed a calcified nodule within the skin of the scalp.").case
    assert case.imaging.location == "skin_dermis"


def test_an_organ_the_mass_wraps_or_flattens_is_a_neighbour():
    case = read_text("Ultrasound showed a partly calcified mass wrapping the upper pole of "
                     "the right kidney and flattening it.").case
    assert case.imaging.organ is None


def test_what_the_lesion_is_likened_to_is_not_its_place():
    case = read_text("The chest radiograph showed a round opacity that looked like a "
                     "pulmonary nodule.").case
    assert case.imaging.organ is None
    case = read_text("CT showed a calcified mass resembling a renal cyst in the upper "
                     "abdomen.").case
    assert case.imaging.organ is None
    case = read_text("CT showed a calcified nodule in the right lung.").case
    assert case.imaging.organ == "lung"
