"""Named structures of the body read to region and location (sentences written for these tests)."""

import pytest
import spacy

from calcdx.text import read_text
from calcdx.text.lexicon import load_lexicon, normal_form


@pytest.mark.parametrize(
    ("text", "region", "location"),
    [
        ("CT showed a calcified nodule in the infratemporal fossa.", "head_face", None),
        ("Radiographs showed ossification of the coracoclavicular ligament.", "shoulder",
         "ligament"),
        ("Ultrasound showed a calcific deposit at the common extensor origin.", "elbow",
         "tendon_enthesis"),
        ("MRI showed calcification along the flexor hallucis longus.", "lower_leg", None),
        ("A radiograph showed a calcified body in the semimembranosus bursa.", "knee", "bursa"),
        ("CT showed calcification of the anterior talofibular ligament.", "ankle", "ligament"),
        ("Radiographs showed a calcified nodule in the palmar aponeurosis.", "hand_fingers",
         "fascia_intermuscular"),
        ("CT showed a calcified mass in the quadratus lumborum.", "retroperitoneum", None),
        ("Radiographs showed calcification in the levator scapulae.", "neck", None),
        ("CT showed a calcified nodule in the mesorectum.", "pelvis", None),
    ],
)
def test_named_structures_give_region_and_location(text, region, location):
    imaging = read_text(text).case.imaging
    assert imaging.region == region
    assert imaging.location == location


def test_no_phrase_names_two_regions_or_two_locations():
    for phrase, facts in load_lexicon().phrases.items():
        for kind in ("imaging.region", "imaging.location", "imaging.organ"):
            values = {fact.value for fact in facts if fact.kind == kind}
            assert len(values) <= 1, f"{phrase!r} names {kind} {sorted(values)}"


@pytest.mark.parametrize("word", ["phalanx", "interphalangeal joint"])
def test_a_part_found_in_hand_and_foot_follows_the_whole_named(word):
    text = f"Radiographs showed calcification beside the {word} of the second toe."
    assert read_text(text).case.imaging.region == "foot_toes"


@pytest.mark.parametrize(
    ("text", "field", "value"),
    [
        ("A roentgenogram showed a calcified nodule in the thigh.", "modality", "radiograph"),
        ("Computed tomographic images showed a calcified nodule in the thigh.", "modality",
         "ct"),
        ("Diffusion-weighted images showed a calcified nodule in the thigh.", "modality",
         "mri"),
        ("CT showed hydroxyapatite deposits beside the hip.", "matrix", "calcification"),
        ("CT showed osteoid matrix in a mass of the thigh.", "matrix", "ossification"),
        ("A radiograph showed a retained needle in the thigh.", "matrix", "foreign_material"),
    ],
)
def test_imaging_wording_reads_modality_and_matrix(text, field, value):
    assert getattr(read_text(text).case.imaging, field) == value


@pytest.mark.parametrize(
    ("history", "value"),
    [
        ("on renal replacement therapy", "dialysis"),
        ("with cerebral palsy", "neurological_injury"),
        ("after months of prolonged immobility", "immobilisation"),
        ("with known metastases", "malignancy_known"),
        ("with parathyroid hyperplasia", "hyperparathyroidism"),
        ("with chronic venous disease", "venous_insufficiency"),
    ],
)
def test_history_wording_reads_the_clinical_value(history, value):
    case = read_text(f"A woman {history} had a calcified nodule in the thigh on CT.").case
    assert value in case.clinical


@pytest.mark.parametrize(
    ("text", "region", "organ"),
    [
        # the kidney is read as the abdomen (the convention of the case transcriptions);
        # the adrenal, the ureter and the spaces around the kidney stay the retroperitoneum
        ("Non-contrast CT showed clustered calcification in the medullary pyramids of "
         "both kidneys.", "abdomen", "kidney"),
        ("CT showed a 6 mm calculus in the lower pole calyx of the left kidney.", "abdomen",
         "kidney"),
        ("CT showed a coarsely calcified mass of the right adrenal gland.", "retroperitoneum",
         "adrenal"),
        ("CT showed a calcified stone in the distal left ureter.", "retroperitoneum",
         "ureter"),
        ("CT showed a rim-calcified collection in the perirenal space.", "retroperitoneum",
         None),
    ],
)
def test_the_kidney_is_the_abdomen_and_its_surroundings_the_retroperitoneum(
        text, region, organ):
    imaging = read_text(text).case.imaging
    assert imaging.region == region
    assert imaging.organ == organ


def test_a_region_the_lesion_pushes_on_comes_after_the_one_it_lies_in():
    # the mineral is in the clause after the semicolon, told of the mass by a pronoun
    case = read_text("CT showed a 9 cm septated mass centred in the retroperitoneum; it "
                     "held coarse calcifications and displaced the left kidney forward.").case
    assert case.imaging.region == "retroperitoneum"
    case = read_text("CT showed a calcified pelvic mass compressing the bladder and "
                     "flattening the sigmoid colon.").case
    assert case.imaging.region == "pelvis"
    assert case.imaging.organ is None
    # a place word of position (above, near) still names the region
    case = read_text("Radiographs showed a linear ossification just above the medial "
                     "femoral condyle.").case
    assert case.imaging.region == "knee"


def test_spellings_that_match_the_same_words_name_one_place():
    # "gonadal vein" and "gonadal veins" are matched as the same words: they must agree
    nlp = spacy.blank("en")
    places: dict[tuple[str, ...], dict[str, set[str]]] = {}
    for phrase, facts in load_lexicon().phrases.items():
        key = tuple(normal_form(token.text) for token in nlp.make_doc(phrase))
        for fact in facts:
            if fact.kind in {"imaging.region", "imaging.location", "imaging.organ"}:
                places.setdefault(key, {}).setdefault(fact.kind, set()).add(fact.value)
    for key, kinds in places.items():
        for kind, values in kinds.items():
            assert len(values) == 1, f"{' '.join(key)!r} names {kind} {sorted(values)}"


@pytest.mark.parametrize(
    ("text", "region", "organ"),
    [
        # the organ's part names no region itself: the organ's region is taken
        ("CT showed a focus of calcification in the head of the pancreas.", "abdomen",
         "pancreas"),
        ("CT showed a calcified lesion of the submandibular gland.", "neck", "salivary_gland"),
        ("CT showed a calcified lesion in the parotid gland.", "head_face", "salivary_gland"),
    ],
)
def test_an_organ_part_gives_the_organ_region(text, region, organ):
    imaging = read_text(text).case.imaging
    assert (imaging.region, imaging.organ) == (region, organ)


@pytest.mark.parametrize(
    ("text", "region"),
    [
        # a shape word in the history ("chalky nodules") does not make its places the
        # lesion's: the study's sentence naming the mineral places it
        ("A woman with facial telangiectasia had chalky nodules around her fingers. "
         "Radiographs showed calcification in the soft tissues of the fingers.", "hand_fingers"),
        # a structure said normal is not where the lesion is
        ("A lumbar radiograph for back pain showed specks of calcification over the right "
         "upper abdomen; the spine itself was normal.", "abdomen"),
    ],
)
def test_places_of_the_history_and_normal_structures_come_after_the_lesion(text, region):
    assert read_text(text).case.imaging.region == region


@pytest.mark.parametrize(
    ("text", "region"),
    [
        # in the sentence naming the mineral, the place beside it comes before places
        # named far from it
        ("There were papules over the backs of the hands of the little girl, seen by her "
         "family doctor at first, and a calcinosis at the elbow.", "elbow"),
        # below the anterior arch of the atlas is in front of the spine: the neck
        ("The lateral radiograph showed a faint calcific density just below the anterior "
         "arch of C1.", "neck"),
    ],
)
def test_the_place_beside_the_mineral_is_read(text, region):
    assert read_text(text).case.imaging.region == region
