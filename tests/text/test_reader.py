"""The free-text reader on hand-worked descriptions (the truth is read off the sentence)."""

import pytest

from calcdx.errors import KnowledgeBaseError, TextError
from calcdx.text import read_text
from calcdx.text.lexicon import build_lexicon, normal_form

ISSUE_EXAMPLE = (
    "34-year-old man, 3 weeks after a kick to the thigh, a 4 cm peripherally calcified mass "
    "in vastus lateralis separated from the femur by a lucent cleft; no periosteal reaction"
)


def test_the_issue_example_reads_field_by_field():
    reading = read_text(ISSUE_EXAMPLE)
    assert reading.case.to_json_dict() == {
        "format": "calcdx-case/1",
        "patient": {"age_years": 34, "sex": "male"},
        "clinical": ["trauma_recent"],
        "imaging": {
            "region": "thigh",
            "location": "muscle",
            "matrix": "calcification",
            "pattern": ["zonal_peripheral"],
            "extent": "solitary",
            "size_mm": 40,
            "associated": ["soft_tissue_mass", "cleft_from_bone"],
            "associated_absent": ["periosteal_reaction"],
        },
    }


def test_every_value_carries_its_own_words():
    reading = read_text(ISSUE_EXAMPLE)
    for value in reading.values:
        assert ISSUE_EXAMPLE[value.source.start : value.source.end] == value.source.words
    words = {value.field: value.source.words for value in reading.values}
    assert words["patient.age_years"] == "34-year-old"
    assert words["imaging.size_mm"] == "4 cm"
    assert words["imaging.location"] == "vastus lateralis"
    assert words["imaging.associated_absent"] == "periosteal reaction"


@pytest.mark.parametrize(
    ("text", "size_mm"),
    [
        ("a 6 x 5 x 3 cm calcified mass in the thigh", 60),
        ("a calcified nodule of 12 mm in the forearm", 12),
        ("calcified mass 2.5 cm in the calf", 25),
        ("a 6x5x3cm ossified mass in the buttock", 60),
        ("calcifications of 2-3 mm in the breast", 3),
    ],
)
def test_sizes_are_the_largest_dimension_in_mm(text, size_mm):
    assert read_text(text).case.imaging.size_mm == size_mm


def test_a_distance_is_not_a_size():
    reading = read_text("a 15 mm calcified nodule 4 cm from the knee joint")
    assert reading.case.imaging.size_mm == 15


@pytest.mark.parametrize(
    ("text", "age", "sex"),
    [
        ("A 34-year-old woman with a calcified thigh mass", 34, "female"),
        ("a boy aged 9 with calcinosis of the elbows", 9, "male"),
        ("6-month-old girl; punctate calcification in the abdomen", 0.5, "female"),
    ],
)
def test_age_and_sex(text, age, sex):
    patient = read_text(text).case.patient
    assert (patient.age_years, patient.sex) == (age, sex)


def test_negation_goes_to_the_absent_lists():
    case = read_text(
        "No history of trauma or surgery. Shoulder calcification without bone erosion."
    ).case
    # no trauma at all: neither recent nor remote
    assert set(case.clinical_absent) == {"trauma_recent", "trauma_remote", "surgery_local"}
    assert case.imaging.associated_absent == ["bone_erosion"]
    assert case.clinical == [] and case.imaging.associated == []


def test_a_negation_does_not_reach_past_the_clause():
    case = read_text("No trauma; she is on dialysis and has a hip calcification.").case
    assert case.clinical_absent == ["trauma_recent", "trauma_remote"]
    assert case.clinical == ["dialysis"]


def test_labs_in_words():
    case = read_text(
        "Raised phosphate and normal calcium; PTH was elevated. Hypercalcaemia was not "
        "present. Calcification around the hip."
    ).case
    assert case.labs == {"phosphate": "high", "calcium": "normal", "pth": "high"}


def test_a_list_of_labs_shares_the_level_after_it():
    case = read_text("Calcium, phosphate and PTH were normal. Calcified mass in the hand.").case
    assert case.labs == {"calcium": "normal", "phosphate": "normal", "pth": "normal"}


def test_remote_and_recent_injury():
    assert read_text("a fall 20 years ago; ossification in the thigh").case.clinical == [
        "trauma_remote"
    ]
    assert read_text("kicked 2 weeks ago; ossification in the thigh").case.clinical == [
        "trauma_recent"
    ]


def test_family_history_and_uncertainty_are_set_aside():
    reading = read_text("Her brother has gout. Possible erosion. Calcified mass in the foot.")
    assert "gout" not in reading.case.clinical
    assert "bone_erosion" not in reading.case.imaging.associated
    reasons = {item.source.words: item.reason for item in reading.set_aside}
    assert reasons["gout"] == "family history, not the patient"
    assert reasons["erosion"] == "stated as uncertain"


def test_radiology_wording_maps_to_patterns():
    case = read_text(
        "Ring-and-arc calcification, chicken-wire matrix, rice grain calcifications, "
        "tram track and popcorn calcification in the thigh."
    ).case
    assert set(case.imaging.pattern) == {
        "ring_and_arc",
        "net_like",
        "rice_grain",
        "tram_track",
        "popcorn",
    }


@pytest.mark.parametrize(
    ("word", "matrix"),
    [
        ("calcified", "calcification"),
        ("ossified", "ossification"),
        ("metallic", "foreign_material"),
    ],
)
def test_matrix_words(word, matrix):
    assert read_text(f"a {word} density in the thigh").case.imaging.matrix == matrix


def test_organs_give_region_location_and_organ():
    imaging = read_text("laminated calcification in the gallbladder").case.imaging
    assert (imaging.region, imaging.location, imaging.organ) == ("abdomen", "organ", "gallbladder")


def test_unknown_words_are_listed_not_guessed():
    reading = read_text("a calcified mass in the thigh with a curious zebroid shimmer")
    assert [p.words for p in reading.not_understood] == ["curious zebroid shimmer"]
    assert reading.case.imaging.pattern == []


@pytest.mark.parametrize("text", ["", "   ", "The weather was lovely and the train was late."])
def test_empty_or_off_topic_text_is_refused(text):
    with pytest.raises(TextError, match="describe the finding"):
        read_text(text)


def test_read_many_keeps_order_and_errors():
    from calcdx.text import default_reader

    out = list(default_reader().read_many(["thigh calcification", "", "hip calcification"]))
    assert out[0].case.imaging.region == "thigh"
    assert isinstance(out[1], TextError)
    assert out[2].case.imaging.region == "hip"


def test_lexicon_values_are_checked_against_the_vocabulary():
    from calcdx.case.vocabulary import load_vocabulary

    raw = {"fields": {"pattern": {"zebra_stripes": ["zebra"]}}}
    with pytest.raises(KnowledgeBaseError, match="'zebra_stripes' is not a case-format pattern"):
        build_lexicon(raw, load_vocabulary())


def test_normal_form_unifies_spelling_and_number():
    assert normal_form("Oedema") == normal_form("edema")
    assert normal_form("calcifications") == normal_form("calcification")
    assert normal_form("centre") == normal_form("center")


def test_a_count_of_lesions_states_the_extent_and_a_count_of_weeks_does_not():
    assert read_text("Two calcified nodules in the thigh").case.imaging.extent == "few_regional"
    assert read_text("Calcified thigh nodule two weeks after a fall").case.imaging.extent is None
    assert read_text("numerous calcifications in the breast").case.imaging.extent == (
        "multiple_regional"
    )


def test_pain_needs_an_onset_word():
    assert read_text("sudden pain in the shoulder; calcification").case.clinical == ["acute_pain"]
    assert read_text("pain for years; hip calcification").case.clinical == ["chronic_pain"]
    reading = read_text("pain in the hip; calcification")
    assert reading.case.clinical == []
    assert [s.reason for s in reading.set_aside] == ["pain without a stated onset"]


def test_the_modality_that_shows_mineral_best_is_the_case_modality():
    # radiographs first, CT second: CT characterises the mineral, so the case is CT
    case = read_text(
        "Radiographs showed a calcified mass in the thigh; CT showed peripheral calcification."
    ).case
    assert case.imaging.modality == "ct"
    assert read_text("MRI and radiographs showed a calcified thigh mass.").case.imaging.modality \
        == "radiograph"


def test_extent_words_must_be_said_of_a_lesion():
    case = read_text(
        "She had diffuse abdominal pain. CT showed a calcified mass in the pelvis."
    ).case
    assert case.imaging.extent == "solitary"
    case = read_text("CT showed widespread calcification of the soft tissues.").case
    assert case.imaging.extent == "widespread"
    case = read_text("Both ovaries were removed. CT showed two calcified nodules.").case
    assert case.imaging.arrangement == [] and case.imaging.extent == "few_regional"


def test_a_lesion_named_in_the_singular_is_solitary_unless_plurals_are_named():
    assert read_text("CT showed a large, partly calcified mass.").case.imaging.extent \
        == "solitary"
    assert read_text("CT showed a calcified mass and calcified nodules.").case.imaging.extent \
        is None
    # "calcifications" can lie within one mass
    assert read_text("CT showed a mass with coarse calcifications.").case.imaging.extent \
        == "solitary"


def test_pain_duration_follows_the_iasp_thresholds():
    def clinical(text: str) -> list[str]:
        return read_text(text + " CT showed a calcified mass.").case.clinical

    assert clinical("She had three days of hip pain.") == ["acute_pain"]
    assert clinical("She had two months of shoulder pain.") == []  # subacute
    assert clinical("She had shoulder pain for two years.") == ["chronic_pain"]
    # the age is not a duration
    assert clinical("A 70-year-old man had shoulder pain.") == []


def test_painless_said_of_a_swelling_describes_the_lump():
    # a property of the lump, not "no pain" (the transcription states absence only where
    # the text says "no ..." / "without ...")
    case = read_text("A painless swelling of the hip. CT showed a calcified mass.").case
    assert case.clinical_absent == []
    assert case.clinical == ["palpable_mass"]
    case = read_text("She had no pain in the hip. CT showed a calcified mass.").case
    assert set(case.clinical_absent) == {"acute_pain", "chronic_pain"}


def test_a_neighbouring_organ_or_the_study_is_not_the_place():
    case = read_text(
        "The abdominal radiograph showed a calcified mass displacing the left kidney; "
        "CT placed it in the retroperitoneum."
    ).case
    assert case.imaging.organ is None
    assert case.imaging.region == "retroperitoneum"


def test_a_non_prefix_negates_its_word_only():
    case = read_text("A non-erythematous lump in the thigh. CT showed a calcified mass.").case
    assert "local_inflammation" in case.clinical_absent
    assert "palpable_mass" in case.clinical


def test_a_negation_ends_where_the_patient_had_something():
    case = read_text(
        "A woman with no history of trauma had a lump in the thigh. CT showed a calcified mass."
    ).case
    assert "palpable_mass" in case.clinical
    assert "trauma_recent" in case.clinical_absent


@pytest.mark.parametrize(
    ("text", "labs"),
    [
        # hand-worked against the stated adult reference intervals
        ("Serum calcium 3.1 mmol/L and phosphate 0.9 mmol/L.", {"calcium": "high",
                                                                "phosphate": "normal"}),
        ("Uric acid (9.2 mg/dl) was noted.", {"urate": "high"}),
        ("Phosphorus was 1.8 mg/dL.", {"phosphate": "low"}),
        ("PTH of 250 pg/mL.", {"pth": "high"}),
        ("ESR 80 mm/h.", {"crp_esr": "high"}),
        ("Calcium 2.58 mmol/L.", {}),  # within 2 % of the upper limit: left unread
        ("Calcium 12 widgets.", {}),  # no known unit
    ],
)
def test_a_measured_lab_value_is_read_against_reference_intervals(text, labs):
    assert read_text(text + " CT showed a calcified mass.").case.labs == labs


def test_tenderness_is_not_a_sign_of_local_inflammation():
    # tenderness is pain on pressure; redness and warmth are the signs of inflammation
    case = read_text("A tender calcified nodule in the thumb, with redness.").case
    assert case.clinical == ["local_inflammation"]
    case = read_text("A tender calcified nodule in the thumb.").case
    assert "local_inflammation" not in case.clinical


def test_fluid_elsewhere_is_not_a_fluid_component_of_the_lesion():
    case = read_text("CT showed coarse calcification with fluid in the retropharyngeal space.").case
    assert "fluid_component" not in case.imaging.associated
    case = read_text("CT showed a calcified mass with mixed solid and fluid parts.").case
    assert "fluid_component" in case.imaging.associated


def test_soft_tissue_swelling_is_not_a_soft_tissue_mass_hyphenated_or_not():
    # swelling of the soft tissues (oedema, effusion or mass) is not a mass; a hyphenated
    # soft-tissue mass is
    case = read_text("Radiographs showed soft-tissue swelling with amorphous calcification.").case
    assert "soft_tissue_mass" not in case.imaging.associated
    case = read_text("Radiographs showed a soft-tissue mass; CT showed amorphous "
                     "calcification.").case
    assert "soft_tissue_mass" in case.imaging.associated


def test_a_swelling_is_a_lump_but_pain_and_swelling_is_not():
    case = read_text("A painless swelling of the hip; calcified mass.").case
    assert "palpable_mass" in case.clinical
    case = read_text("Knee pain and swelling; the radiograph showed calcified menisci.").case
    assert "palpable_mass" not in case.clinical


def test_a_hyphenated_compound_inside_a_longer_phrase_matches():
    case = read_text("CT showed calcification within the soft-tissue mass of the thigh.").case
    assert case.imaging.location == "within_mass"
    case = read_text("The radiograph showed small-bowel obstruction and a calcified lesion "
                     "in the pelvis.").case
    assert "bowel_obstruction" in case.imaging.associated
    assert case.imaging.organ is None


def test_the_cortex_of_a_neighbouring_bone_is_not_the_lesion_pattern():
    case = read_text("CT showed an amorphous calcific deposit in front of C2 with erosion of "
                     "the anterior cortex of C2.").case
    assert "trabecular_cortical" not in case.imaging.pattern
    case = read_text("CT showed an ossified mass in the mesentery with a cortex and "
                     "trabeculae.").case
    assert "trabecular_cortical" in case.imaging.pattern


@pytest.mark.parametrize(
    "text",
    [
        "Radiographs showed a lobulated calcified mass around the right hip.",
        "The radiograph showed amorphous calcification beside the ulnar side of the joint.",
        "The radiograph showed new bone formation medial and lateral to the joint.",
        "Imaging showed calcification outside the joint at the distal humerus.",
        "He had painless peri-articular swellings; radiographs showed calcified masses.",
    ],
)
def test_near_a_joint_is_periarticular(text):
    assert read_text(text).case.imaging.location == "periarticular"


def test_near_a_bone_that_is_not_a_joint_is_not_periarticular():
    case = read_text("Radiographs showed calcification lateral to the lateral malleolus.").case
    assert case.imaging.location != "periarticular"
    assert case.imaging.region == "ankle"


def test_the_term_of_a_comparison_is_not_the_place():
    case = read_text("CT showed a soft-tissue mass in the deltoid region, lower in density "
                     "than muscle, with a central calcification.").case
    assert case.imaging.location == "within_mass"
    case = read_text("MRI showed a calcified mass isointense to muscle on T1.").case
    assert case.imaging.location != "muscle"


def test_organs_pushed_aside_in_a_list_are_neighbours():
    case = read_text("CT showed a cystic mass with calcifications beside the pancreas that "
                     "pushed the pancreatic tail, kidney and stomach aside.").case
    assert case.imaging.organ is None
    case = read_text("Ultrasound showed a calcified 5 cm mass in the deep tissues beneath "
                     "the superficial fascia.").case
    assert case.imaging.location != "fascia_intermuscular"


def test_a_calcified_mass_is_the_deposit_a_mass_with_calcification_holds_it():
    # "a calcified mass": the mass is the mineral; no mass around it is stated
    case = read_text("The knee radiograph showed a lobulated calcified mass beside the "
                     "joint.").case
    assert "soft_tissue_mass" not in case.imaging.associated
    assert case.imaging.location == "periarticular"
    case = read_text("CT showed a soft-tissue mass of the shoulder containing coarse "
                     "calcification.").case
    assert "soft_tissue_mass" in case.imaging.associated
    assert case.imaging.location == "within_mass"
    case = read_text("CT showed a partly calcified mass in the thigh.").case
    assert case.imaging.location == "within_mass"
    assert "soft_tissue_mass" in case.imaging.associated


def test_extensive_says_how_much_mineral_not_over_how_many_sites():
    case = read_text("Radiographs showed extensive calcification over the hip.").case
    assert case.imaging.extent != "widespread"
    case = read_text("Radiographs showed widespread calcification in both legs.").case
    assert case.imaging.extent == "widespread"


def test_a_count_of_foci_inside_one_lesion_is_not_a_count_of_lesions():
    case = read_text("Radiographs showed a soft-tissue swelling with a few calcified foci "
                     "above the patella.").case
    assert case.imaging.extent != "few_regional"
    case = read_text("CT showed a cystic mass; it held a few scattered calcifications.").case
    assert case.imaging.extent == "solitary"
    case = read_text("Radiographs showed three calcified nodules in the thigh.").case
    assert case.imaging.extent == "few_regional"


def test_no_fracture_on_imaging_rules_out_no_injury():
    case = read_text("After a blow to the foot, radiographs showed a 10 cm bony segment in "
                     "the Achilles tendon, not fractured.").case
    assert "trauma_remote" not in case.clinical_absent
    assert "trauma_recent" not in case.clinical_absent


def test_negated_pain_of_other_joints_is_not_this_pain():
    case = read_text("Five days of severe pain of the finger; no trauma, no fever and no "
                     "other joint pain. Radiographs showed an ovoid calcification.").case
    assert case.clinical == ["acute_pain"]
    assert "chronic_pain" not in case.clinical_absent
    assert "fever" in case.clinical_absent


def test_painless_said_of_movement_does_not_negate_a_stated_pain():
    case = read_text("Sudden severe pain in the buttock, with a normal, painless range of hip "
                     "movement. CT showed a calcific deposit at the gluteal tendon.").case
    assert "acute_pain" in case.clinical
    assert "chronic_pain" not in case.clinical_absent
    case = read_text("She was pain-free at rest; CT showed a calcified mass.").case
    assert {"acute_pain", "chronic_pain"} <= set(case.clinical_absent)


def test_an_injury_years_before_is_remote():
    case = read_text("He had long-standing knee pain and had injured the same knee several "
                     "years before. The radiograph showed a curvilinear calcification.").case
    assert "trauma_remote" in case.clinical
    assert "trauma_recent" not in case.clinical
    case = read_text("She fell on the shoulder 2 weeks ago; radiographs showed a calcified "
                     "deposit.").case
    assert "trauma_recent" in case.clinical


def test_beside_a_bone_end_and_about_a_size_are_not_periarticular():
    case = read_text("The radiograph showed a curvilinear calcification beside the medial "
                     "femoral condyle.").case
    assert case.imaging.location != "periarticular"
    case = read_text("Radiographs showed many calcified bodies of about equal size throughout "
                     "the glenohumeral joint.").case
    assert case.imaging.location == "intraarticular_body"


def test_a_list_of_body_parts_after_a_study_names_the_study():
    case = read_text("Radiographs of the foot and leg showed a 10 cm bony segment within the "
                     "Achilles tendon.").case
    assert case.imaging.region == "ankle"
    assert case.imaging.location == "tendon_enthesis"


def test_skin_named_beside_the_lesion_is_not_its_place():
    case = read_text("A firm 2 cm nodule lay under normal skin; CT showed a calcified "
                     "nodule.").case
    assert case.imaging.location != "skin_dermis"
    case = read_text("A lump tethered to the skin; the radiograph showed dense "
                     "calcification.").case
    assert case.imaging.location != "skin_dermis"


def test_narrowing_of_the_joint_space_does_not_put_the_lesion_in_the_joint():
    case = read_text("The radiograph showed narrowing of the glenohumeral joint space and "
                     "small linear calcifications.").case
    assert case.imaging.location != "intraarticular_body"


@pytest.mark.parametrize(
    ("text", "region"),
    [
        # MRI sequence names are not vertebrae; a vertebral level is
        ("MRI showed a 2 cm focus of low signal on T1 and T2 within the supraspinatus tendon, "
         "corresponding to calcification.", "shoulder"),
        ("CT showed ossification of the ligamentum flavum at T10.", "spine_paraspinal"),
        # the head and neck of an organ are directions
        ("Contrast CT showed a low-density lesion in the head and neck of the pancreas with a "
         "central calcification.", "abdomen"),
        # a body part in a disease name is not the place
        ("A man with heart disease had a subcutaneous swelling of the elbow; radiographs "
         "showed amorphous calcification.", "elbow"),
        # body parts listed before a study name the study
        ("Abdominal and pelvic radiographs and CT showed a mass in the pelvis with "
         "popcorn-like calcification.", "pelvis"),
        # the cervical vertebrae are the spine; in front of them is the neck
        ("CT showed calcification encircling the odontoid process.", "spine_paraspinal"),
        ("Neck pain. CT showed amorphous calcification in front of the C1 and C2 bodies and "
         "a retropharyngeal collection.", "neck"),
        ("CT of the neck showed calcification of the transverse atlantal and cruciate "
         "ligaments.", "spine_paraspinal"),
        ("A lateral cervical spine radiograph showed a soft-tissue mass at the level of the "
         "glottis, and CT showed a ring-like calcification.", "neck"),
        # a body part named for the positioning
        ("Shoulder pain. A radiograph with the arm elevated showed calcium deposits at the "
         "insertion of the deltoid on the acromion.", "shoulder"),
        # a body part before ", and MRI" does not name the MRI
        ("Radiographs showed calcifications around the shoulder, and MRI showed no erosion of "
         "the humerus.", "shoulder"),
    ],
)
def test_words_that_name_no_place_of_the_lesion_leave_the_region_to_those_that_do(
    text, region
):
    assert read_text(text).case.imaging.region == region


def test_rim_enhancement_is_no_enhancing_solid_component():
    case = read_text("MRI showed an intramuscular mass with calcification and peripheral rim "
                     "enhancement.").case
    assert "enhancing_solid_component" not in case.imaging.associated
    case = read_text("MRI showed a calcified mass with enhancement of the adjacent soft "
                     "tissue.").case
    assert "enhancing_solid_component" not in case.imaging.associated
    case = read_text("MRI showed a calcified mass with heterogeneous enhancement.").case
    assert "enhancing_solid_component" in case.imaging.associated


def test_necrosis_of_the_lesion_is_not_skin_necrosis():
    case = read_text("MRI showed a calcified mass in the thigh with central necrosis.").case
    assert "skin_necrosis" not in case.imaging.associated
    case = read_text("The skin over the lump became necrotic. Radiographs showed dense "
                     "calcification.").case
    assert "skin_necrosis" in case.imaging.associated


def test_no_connection_to_the_bone_is_no_continuity_with_it():
    case = read_text("Radiographs showed a lobulated calcified mass not connected to the "
                     "underlying bone.").case
    assert "continuity_with_bone" in case.imaging.associated_absent
    case = read_text("CT showed a mineralised mass in the joint, with no continuity with the "
                     "acetabulum.").case
    assert "continuity_with_bone" in case.imaging.associated_absent


def test_a_phrase_holding_a_termination_word_can_still_be_negated():
    # "with" ends a negation's scope, but not inside "continuity with the bone"
    case = read_text("CT showed a calcified mass, no continuity with the bone.").case
    assert "continuity_with_bone" in case.imaging.associated_absent
    case = read_text("CT showed a calcified mass in continuity with the bone.").case
    assert "continuity_with_bone" in case.imaging.associated


@pytest.mark.parametrize(
    ("text", "time"),
    [
        # the duration beside the injury, not another one in the sentence
        ("Two months of shoulder pain and swelling, nine months after a fall.", "remote"),
        ("She fell on the shoulder 2 weeks ago.", "recent"),
        ("Six months after the injury the elbow was stiff.", "remote"),
    ],
)
def test_the_duration_beside_an_injury_gives_its_time(text, time):
    case = read_text(text + " Radiographs showed new bone formation.").case
    assert f"trauma_{time}" in case.clinical
    other = "recent" if time == "remote" else "remote"
    assert f"trauma_{other}" not in case.clinical


def test_easy_bruising_is_a_bleeding_sign_not_an_injury():
    case = read_text("A boy with tiredness and easy bruising; CT showed a partly calcified "
                     "adrenal mass.").case
    assert not {"trauma_recent", "trauma_remote"} & set(case.clinical)


def test_a_differential_the_lesion_was_taken_for_is_uncertain():
    case = read_text("MRI showed an epidural mass, first taken for an old haematoma; CT "
                     "showed it ossified.").case
    assert not {"trauma_recent", "trauma_remote"} & set(case.clinical)


def test_raised_acute_phase_proteins_are_raised_inflammatory_markers():
    case = read_text("Four days of neck pain with raised acute-phase proteins; CT showed a "
                     "calcific density.").case
    assert "raised_inflammatory_markers" in case.clinical


def test_and_no_ends_an_uncertainty_scope():
    case = read_text("MRI showed structures thought to be calcification and hair, and no "
                     "enhancing solid tissue.").case
    assert "enhancing_solid_component" in case.imaging.associated_absent


@pytest.mark.parametrize(
    ("text", "field", "value"),
    [
        # one word that states an absence
        ("An afebrile woman; CT showed a calcified mass.", "clinical_absent", "fever"),
        ("Two years of atraumatic knee swelling; radiographs showed calcification.",
         "clinical_absent", "trauma_recent"),
        ("Two years of atraumatic knee swelling; radiographs showed calcification.",
         "clinical_absent", "trauma_remote"),
        # plain radiology synonyms
        ("MDCT showed a calcified nodule.", "imaging.modality", "ct"),
        ("Plain x-ray showed a calcified nodule.", "imaging.modality", "radiograph"),
        ("CT showed a mass with chondroid matrix mineralisation.", "imaging.pattern",
         "ring_and_arc"),
        ("Radiographs showed flocculent calcification in the thigh.", "imaging.pattern",
         "amorphous_cloudy"),
        ("CT showed calcification of the blood vessel walls.", "imaging.location", "artery"),
        ("A man after a total hip replacement (THA); radiographs showed new bone.",
         "clinical", "arthroplasty"),
        ("A woman with end-stage renal failure; radiographs showed calcified masses.",
         "clinical", "chronic_kidney_disease"),
        ("A man with paraparesis; radiographs showed new bone around the hip.", "clinical",
         "neurological_injury"),
        ("Radiographs showed a calcifying soft-tissue mass of the finger.", "imaging.matrix",
         "calcification"),
        ("A woman after two caesarean sections; CT showed a calcified mass in the abdominal "
         "wall.", "clinical", "laparotomy"),
        ("Treated pulmonary tuberculosis; CT showed calcified hilar nodes.", "clinical",
         "tuberculosis_history"),
        ("Intravenous urogram showed a calcification in the pelvis.", "imaging.modality",
         "radiograph"),
        ("There was no colicky pain. CT showed a calcified renal mass.", "clinical_absent",
         "renal_colic"),
    ],
)
def test_plain_synonyms_and_one_word_absences(text, field, value):
    case = read_text(text).case.to_json_dict()
    head, _, tail = field.partition(".")
    got = case[head][tail] if tail else case[head]
    assert value in got if isinstance(got, list) else got == value


def test_absence_words_are_checked_against_the_vocabulary():
    from importlib import resources

    import yaml

    from calcdx.case.vocabulary import load_vocabulary

    text = resources.files("calcdx.text").joinpath("data/lexicon.yaml").read_text("utf-8")
    raw = yaml.safe_load(text)
    raw["absent"] = {"clinical": {"no_such_history": ["never ill"]}}
    with pytest.raises(KnowledgeBaseError, match="'no_such_history' is not a case-format"):
        build_lexicon(raw, load_vocabulary())
    raw["absent"] = {"modality": {"ct": ["no ct"]}}
    with pytest.raises(KnowledgeBaseError, match="absent: unknown field 'modality'"):
        build_lexicon(raw, load_vocabulary())


def test_a_shape_named_away_from_the_mineral_and_the_study_is_not_its_pattern():
    case = read_text("She had raised red plaques over the knuckles. Radiographs of the feet "
                     "showed sheets of calcification.").case
    assert "patchy_plaque" not in case.imaging.pattern
    assert "sheet_like" in case.imaging.pattern
    case = read_text("He had a beak-like nose. CT showed calcification of the vessel "
                     "walls.").case
    assert "beak_shaped" not in case.imaging.pattern


def test_both_means_bilateral_only_of_paired_body_parts():
    case = read_text("MR arthrogram showed calcified nodules in both the central and the "
                     "peripheral compartments of the joint.").case
    assert "bilateral_symmetric" not in case.imaging.arrangement
    # "both hips" says two sides, not their symmetry ("bilateral" is read so)
    case = read_text("Radiographs showed calcified masses around both hips.").case
    assert "bilateral_symmetric" not in case.imaging.arrangement
    case = read_text("Radiographs showed calcified masses around the hips bilaterally.").case
    assert "bilateral_symmetric" in case.imaging.arrangement


def test_the_tissue_a_signal_is_likened_to_is_not_the_place():
    case = read_text("MRI showed a thigh lesion with the signal of subcutaneous fat and "
                     "calcification.").case
    assert case.imaging.location != "subcutaneous"


def test_an_organ_beside_a_lesion_in_another_compartment_is_dropped():
    case = read_text("CT showed multiple calcified implants on the peritoneal surfaces, "
                     "mainly around the liver and spleen.").case
    assert case.imaging.location == "peritoneum_serosa"
    assert case.imaging.organ is None


@pytest.mark.parametrize(
    ("text", "labs"),
    [
        # the level before "and" ends the last clause; the lab after it takes its own
        ("Urea, creatinine, calcium and phosphate were normal and ESR raised.",
         {"creatinine": "normal", "calcium": "normal", "phosphate": "normal",
          "crp_esr": "high"}),
        ("Her temperature was normal and CRP and ESR were raised.", {"crp_esr": "high"}),
        ("Calcium was normal, phosphorus raised at 2.23 mmol/l.",
         {"calcium": "normal", "phosphate": "high"}),
        ("Calcium was slightly low at 8.1 mg/dl.", {"calcium": "low"}),
        ("Serum PTH was reported low, while phosphate and creatinine were within the "
         "reference ranges.", {"pth": "low", "phosphate": "normal", "creatinine": "normal"}),
        ("Raised calcium and phosphate.", {"calcium": "high", "phosphate": "high"}),
    ],
)
def test_each_lab_takes_the_level_of_its_own_clause(text, labs):
    assert read_text(text + " CT showed a calcified mass.").case.labs == labs


def test_foci_counted_far_from_the_count_word_or_in_the_next_sentence_are_of_one_lesion():
    case = read_text("MRI showed an ovoid mass in the vastus lateralis with a few punctate "
                     "T1-bright spots taken as mineralisation.").case
    assert case.imaging.extent != "few_regional"
    case = read_text("CT showed a low-density lesion in the pancreas with a central "
                     "calcification. MRI showed a few tiny cystic areas at its periphery.").case
    assert case.imaging.extent == "solitary"


def test_mature_bone_is_ossification_that_has_matured():
    case = read_text("Hip radiographs showed mature heterotopic bone in the upper thigh.").case
    assert case.imaging.matrix == "ossification"
    assert case.imaging.evolution == "maturing"


def test_no_family_history_is_read_and_opens_no_family_scope():
    case = read_text("A boy with no personal or family history of disease had a painless "
                     "mobile swelling around the hip; CT showed a calcified mass.").case
    assert "palpable_mass" in case.clinical
    assert "family_history_calcinosis" in case.clinical_absent
    case = read_text("Her sister has gout. CT showed a calcified mass.").case
    assert "gout" not in case.clinical


@pytest.mark.parametrize(
    ("text", "onset"),
    [
        # the onset word in the pain's own phrase comes before a duration said of a fall
        ("Worsening of long-standing shoulder pain after a fall six weeks earlier.",
         "chronic"),
        ("Several months of increasing discomfort of the shoulder.", "chronic"),
        ("Lifelong generalised pain.", "chronic"),
    ],
)
def test_pain_onset_from_its_own_words(text, onset):
    case = read_text(text + " Radiographs showed calcification.").case
    assert f"{onset}_pain" in case.clinical


def test_abdominal_hysterectomy_is_a_laparotomy_and_a_single_phalanx_great_toe_malformed():
    case = read_text("She had a total abdominal hysterectomy; CT showed calcified "
                     "implants.").case
    assert "laparotomy" in case.clinical
    case = read_text("The foot radiograph showed a great toe with a single phalanx, and "
                     "heterotopic bone in the back.").case
    assert "great_toe_malformation" in case.clinical


@pytest.mark.parametrize(
    ("text", "field", "value"),
    [
        ("Radiographs showed narrowing of the tibiofemoral and patellofemoral joint spaces "
         "and calcified loose bodies.", "imaging.associated", "joint_space_narrowing"),
        ("The radioscaphoid joint was narrowed, with calcification in the triangular "
         "fibrocartilage.", "imaging.associated", "joint_space_narrowing"),
        ("CT showed ossified ligaments; the sacroiliac joints were not narrowed.",
         "imaging.associated_absent", "joint_space_narrowing"),
        ("CT showed a partly calcified adrenal mass with several enlarged retroperitoneal "
         "lymph nodes.", "imaging.associated", "lymphadenopathy"),
    ],
)
def test_findings_stated_by_a_construction(text, field, value):
    case = read_text(text).case.to_json_dict()
    assert value in case["imaging"][field.split(".")[1]]


def test_enlarged_nodes_are_not_a_growing_lesion():
    case = read_text("CT showed a calcified mass with enlarged retrocrural nodes.").case
    assert case.imaging.evolution is None


@pytest.mark.parametrize(
    ("text", "field", "value"),
    [
        # anatomy of the head, thorax, nodes and vessels
        ("CT showed symmetrical calcification of the basal ganglia.", "imaging.region",
         "head_face"),
        ("CT showed calcification of the mitral annulus.", "imaging.region", "thorax"),
        ("CT showed calcified mesenteric lymph nodes.", "imaging.location", "lymph_node"),
        ("CT showed calcified mesenteric lymph nodes.", "imaging.region", "abdomen"),
        ("Radiographs showed calcification of the uterine arteries.", "imaging.location",
         "artery"),
        ("CT showed a calcified thrombus in the portal vein.", "imaging.location", "vein"),
        ("The radiograph showed a small ossicle behind the knee, a fabella.",
         "imaging.region", "knee"),
        # foreign material
        ("The abdominal radiograph showed multiple radiopaque tablets in the stomach.",
         "imaging.matrix", "foreign_material"),
        ("CT showed surgical clips beside the gallbladder fossa.", "imaging.matrix",
         "foreign_material"),
        ("Radiographs showed a C-shaped calcification in the thigh muscle.",
         "imaging.pattern", "crescent"),
        ("CT showed a 5 mm stone in the left ureter with hydronephrosis.", "imaging.matrix",
         "calcification"),
        ("Ultrasound showed echogenic foci with posterior acoustic shadowing in the "
         "gallbladder.", "imaging.matrix", "calcification"),
        ("Mammography showed rod-like calcifications in both breasts.", "imaging.pattern",
         "linear"),
        ("Ultrasound revealed an echogenic mass with shadowing in the calf.",
         "imaging.matrix", "calcification"),
    ],
)
def test_anatomy_and_mineral_words_of_other_scopes(text, field, value):
    case = read_text(text).case.to_json_dict()
    head, _, tail = field.partition(".")
    got = case[head][tail]
    assert value in got if isinstance(got, list) else got == value


def test_what_a_density_projects_over_is_not_its_organ():
    case = read_text("The abdominal radiograph showed a round calcification projecting over "
                     "the right kidney.").case
    assert case.imaging.organ is None
    assert case.imaging.region == "abdomen"  # the kidney's region in the case transcriptions
    case = read_text("CT showed a calcified mass adjacent to the pancreas.").case
    assert case.imaging.organ is None
    case = read_text("CT showed a calcified mass in the pancreas.").case
    assert case.imaging.organ == "pancreas"


def test_mineral_over_three_or_more_vertebral_levels_is_multilevel():
    case = read_text("CT showed ossification behind the vertebral bodies from C2 to C6.").case
    assert case.imaging.extent == "multiple_regional"
    case = read_text("CT showed a calcific deposit in front of C1-C2.").case
    assert case.imaging.extent != "multiple_regional"
    case = read_text("CT showed a calcific density at C1-C2 and a retropharyngeal fluid "
                     "collection reaching down from the skull base to C1 to C6.").case
    assert case.imaging.extent != "multiple_regional"


def test_a_clause_after_a_semicolon_is_read_on_its_own():
    # the history before ";" does not give the place of the finding after it
    case = read_text("Recurrent swelling under the jaw while eating; CT showed a 6 mm "
                     "calcification in the left submandibular duct.").case
    assert case.imaging.region == "oral_pharynx"
    assert case.imaging.organ == "salivary_gland"
    assert "meal_time_swelling" in case.clinical


def test_side_of_a_structure_is_beside_it():
    case = read_text("Pelvic radiograph showed round calcifications with lucent centres "
                     "lateral to the bladder.").case
    assert case.imaging.organ is None
    assert case.imaging.region == "pelvis"
    case = read_text("MRI showed a calcified lesion in the lateral meniscus.").case
    assert case.imaging.location == "joint_cartilage"


def test_an_ossicle_is_bone():
    case = read_text("Plain films showed a rounded corticated ossicle behind the talus.").case
    assert case.imaging.matrix == "ossification"


def test_a_negated_mineral_is_not_the_matrix():
    case = read_text("The radiograph showed a dense soft-tissue shadow in the finger pulp "
                     "without calcification.").case
    assert case.imaging.matrix is None
    case = read_text("Plain radiographs showed no calcification or ossification in the "
                     "joint. MRI showed a swollen recess full of fluid.").case
    assert case.imaging.matrix is None
    case = read_text("Radiographs showed calcification, with no ossification.").case
    assert case.imaging.matrix == "calcification"


def test_hyperdense_does_not_say_non_calcified():
    case = read_text("CT showed an ectopic hyperdense area in the temporalis muscle.").case
    assert case.imaging.matrix != "dense_noncalcified"


def test_a_count_before_describing_words_joined_by_commas_states_the_extent():
    # "multiple" counts the calcifications across "large, irregularly shaped"
    case = read_text("A panoramic radiograph showed multiple large, irregularly shaped "
                     "calcifications below the mandible.").case
    assert case.imaging.extent == "multiple_regional"
    case = read_text("A radiograph of the cheek showed three round, target-like "
                     "radiopacities in the soft tissues.").case
    assert case.imaging.extent == "few_regional"


def test_a_count_in_digits_states_the_extent_and_a_measurement_does_not():
    case = read_text("Knee radiographs showed 12 irregular fragments behind the joint.").case
    assert case.imaging.extent == "multiple_regional"
    case = read_text("Radiographs showed 3 calcified nodules in the thigh.").case
    assert case.imaging.extent == "few_regional"
    # "12 x 6 mm" measures the stone: it is one stone, not twelve
    case = read_text("A radiograph showed a calcified stone of 12 x 6 mm stone in the duct.").case
    assert case.imaging.extent != "multiple_regional"
    case = read_text("Two weeks later, radiographs showed 4 mm calcification.").case
    assert case.imaging.extent is None


def test_a_radiopacity_or_shadow_named_in_the_singular_is_one_lesion():
    case = read_text("The radiograph showed a radiopacity in the pelvis.").case
    assert case.imaging.extent == "solitary"
    case = read_text("The abdominal radiograph showed a round radiopaque shadow.").case
    assert case.imaging.extent == "solitary"


def test_an_organ_said_removed_is_an_operation_not_the_lesion_place():
    case = read_text("His gallbladder had been removed laparoscopically a year earlier. CT "
                     "showed a calcified focus in the right subhepatic region.").case
    assert "cholecystectomy" in case.clinical
    assert case.imaging.organ is None
    assert case.imaging.region == "abdomen"
    case = read_text("CT after removal of the gallbladder showed a calcified focus in the "
                     "liver.").case
    assert case.imaging.organ == "liver"
    # a stone in the gallbladder is in the organ: nothing is said removed
    case = read_text("CT showed a calcified stone in the gallbladder.").case
    assert case.imaging.organ == "gallbladder"
    assert "cholecystectomy" not in case.clinical


def test_a_negation_ends_before_a_time_word():
    # "not present before the operation": the finding is new, the operation did happen
    case = read_text("CT showed a calcified focus which had not been present on CT before "
                     "the operation.").case
    assert "surgery_local" not in case.clinical_absent


def test_the_level_of_a_cord_injury_is_history_not_the_lesion_place():
    case = read_text("A man with a spinal cord injury at T3 had a pelvic radiograph showing "
                     "an increase in density at the intertrochanteric region of the hip.").case
    assert "neurological_injury" in case.clinical
    assert case.imaging.region == "hip"
    case = read_text("A man with a spinal cord injury at the level of C5 had calcification "
                     "around the hip.").case
    assert case.imaging.region == "hip"
    # a level named for the lesion itself is still its place
    case = read_text("CT showed calcification of the disc at T3.").case
    assert case.imaging.region == "spine_paraspinal"


def test_a_body_part_naming_the_study_gives_way_to_the_lesion_place():
    # no mineral word in the sentence: "pelvic" names the radiograph, the lesion is at the hip
    case = read_text("A pelvic radiograph showed an increase in density at the hip.").case
    assert case.imaging.region == "hip"


def test_between_or_beside_a_part_of_an_organ_is_not_in_the_organ():
    case = read_text("CT showed a calcified collection between the left lobe of the liver and "
                     "the anterior abdominal wall.").case
    assert case.imaging.organ is None
    case = read_text("Ultrasound showed a calcified nodule beside the right side of the "
                     "uterine fundus.").case
    assert case.imaging.organ is None
    assert case.imaging.region == "pelvis"
    case = read_text("CT showed a calcified nodule in the left lobe of the liver.").case
    assert case.imaging.organ == "liver"


def test_an_organ_removed_before_holds_no_lesion_anywhere_in_the_text():
    # the gallbladder named with its old stones was taken out: the fragment seen now is not in it
    case = read_text("A woman with long-standing gallbladder stones had her gallbladder removed. "
                     "CT showed a collection containing a calcified fragment.").case
    assert "cholecystectomy" in case.clinical
    assert case.imaging.organ is None
    assert case.imaging.location is None


def test_abdominal_pain_with_its_onset_is_also_acute_or_chronic_pain():
    case = read_text("She had dull lower abdominal pain for six months.").case
    assert {"abdominal_pain", "chronic_pain"} <= set(case.clinical)
    case = read_text("A boy had 24 hours of lower abdominal pain and fever.").case
    assert {"abdominal_pain", "acute_pain"} <= set(case.clinical)
    case = read_text("He had abdominal pain.").case
    assert case.clinical == ["abdominal_pain"]
    case = read_text("She had no abdominal pain for years.").case
    assert "chronic_pain" not in case.clinical


def test_pain_in_a_named_part_of_the_abdomen_is_abdominal_pain():
    case = read_text("A boy had three days of pain in the right iliac fossa with vomiting.").case
    assert "abdominal_pain" in case.clinical
    case = read_text("She had pain in the left upper quadrant.").case
    assert "abdominal_pain" in case.clinical
    case = read_text("She had pain in the right knee.").case
    assert "abdominal_pain" not in case.clinical


def test_mineral_placed_in_three_body_regions_is_widespread():
    # spread over regions (few_regional and multiple_regional count within one region)
    case = read_text("Ultrasound showed calcified masses around the right hip and the right "
                     "shoulder, with further deposits in the right forearm.").case
    assert case.imaging.extent == "widespread"
    # two regions state no count
    case = read_text("CT showed a calcified mass between the hip and the thigh.").case
    assert case.imaging.extent not in {"multiple_regional", "widespread"}
    # regions named only in the history do not count
    case = read_text("She had pain in the shoulder, the knee and the hip. A radiograph of the "
                     "knee showed a calcified nodule.").case
    assert case.imaging.extent == "solitary"
