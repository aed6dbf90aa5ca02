"""Read a finding described in plain English into a ``calcdx-case/1`` case.

The pipeline is spaCy's blank English tokenizer (no model, nothing downloaded)
with four components:

1. ``calcdx_terms``: a :class:`~spacy.matcher.PhraseMatcher` over the lexicon
   (case-format vocabulary + ``data/lexicon.yaml``), matching on one spelling and
   singular forms, longest phrase first; every match becomes an entity whose
   label names the facts it states;
2. ``negex`` (negspacy's NegEx, the clinical term set plus the lexicon's
   additions): negation, so "no history of trauma" lands in ``clinical_absent``
   and "without periosteal reaction" in ``associated_absent``;
3. ``uncertain`` and ``family``: the same NegEx algorithm with the lexicon's
   uncertainty and family-history triggers, so "possible erosion" and "her
   sister has gout" are set aside instead of being read as the patient's findings.
   Negation and uncertainty govern only the phrases within NegEx's five-word window
   (other matched phrases and list words not counted); the words of the differential
   ("considered", "mimic", "was suspected") are uncertainty; places in any of the
   three scopes are not where the lesion is.

Precision comes first: a wrong field misleads the differential more than a missing
one, so a phrase said of something else (the surrounding fat, a relative, the other
side, the operation that removed the lesion, a structure described for its own state)
is set aside with its reason rather than read.

Numbers with units (age, size) are read from the text with their character
span. Every value in the case carries the words it came from; words the reader
cannot map are returned as not understood, never guessed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import pairwise
from typing import Any, Final

import spacy
from negspacy.negation import Negex
from negspacy.termsets import termset
from spacy.language import Language
from spacy.matcher import Matcher, PhraseMatcher
from spacy.tokens import Doc, Span, Token
from spacy.util import filter_spans

from calcdx.case.model import Case, parse_case
from calcdx.case.vocabulary import CASE_FORMAT
from calcdx.errors import CaseError, TextError
from calcdx.text.lexicon import Fact, Lexicon, load_lexicon, normal_form

__all__ = [
    "Phrase",
    "ReadValue",
    "Reading",
    "SetAside",
    "TextReader",
    "default_reader",
    "read_text",
]

READING_FORMAT: Final = "calcdx-reading/1"



class _PhraseNegex(Negex):
    """negspacy's NegEx, with termination words inside a matched phrase ignored.

    NegEx cuts a sentence at termination words ("with", "but"...) and negates the
    entities lying wholly inside one piece; a phrase that holds such a word ("continuity
    with the bone") lay in no piece and could never be negated ("no continuity with the
    bone"). Here a termination inside an entity does not cut.
    """

    #: Most words (not counting other matched phrases, list joints and articles) between
    #: a trigger and the phrase it governs; None: the whole piece of the sentence.
    max_gap: int | None = None

    def process_negations(
        self, doc: Doc
    ) -> tuple[list[tuple[int, int, int]], list[tuple[int, int, int]],
               list[tuple[int, int, int]]]:
        """The triggers negspacy finds, with terminations inside a trigger dropped.

        "confused with" holds the termination "with", which would cut the trigger from
        the phrase it governs ("confused with a liver tumour").
        """
        preceding, following, terminating = super().process_negations(doc)
        triggers = [*preceding, *following]
        terminating = [t for t in terminating
                       if not any(a < t[1] < b for _, a, b in triggers)]
        return preceding, following, terminating

    def termination_boundaries(
        self, doc: Doc, terminating: list[tuple[int, int, int]]
    ) -> list[tuple[int, int]]:
        spans = [(e.start, e.end) for e in doc.ents]
        kept = [t for t in terminating if not any(a < t[1] < b for a, b in spans)]
        boundaries: list[tuple[int, int]] = super().termination_boundaries(doc, kept)
        return boundaries

    def _apply_negation(
        self,
        span: Span,
        sub_preceding: list[tuple[int, int, int]],
        sub_following: list[tuple[int, int, int]],
    ) -> None:
        if self.max_gap is not None:
            doc = span.doc
            sub_preceding = [t for t in sub_preceding
                             if t[2] <= span.start and _gap(doc, t[2], span.start) <= self.max_gap]
            sub_following = [t for t in sub_following
                             if t[1] >= span.end and _gap(doc, span.end, t[1]) <= self.max_gap]
        super()._apply_negation(span, sub_preceding, sub_following)


#: Words that join the items of a list a negation runs over ("no fever, chills or
#: weight loss"): they do not count towards the gap between a trigger and its phrase.
_LIST_WORDS: Final = frozenset({",", "or", "and", "nor", "/", "a", "an", "the", "any"})
#: NegEx's window (Chapman et al. 2001, J Biomed Inform 34:301-310): a negation trigger
#: governs the phrases up to five words away; here the words of other matched phrases and
#: of the list joining them are not counted, so a listed run of findings stays in scope.
_NEGATION_WINDOW: Final = 5


def _gap(doc: Doc, start: int, end: int) -> int:
    """Words between two token positions that are neither matched phrases nor list words."""
    inside = doc.user_data.get("calcdx_in_ent")
    if inside is None:
        inside = [False] * len(doc)
        for ent in doc.ents:
            for i in range(ent.start, ent.end):
                inside[i] = True
        doc.user_data["calcdx_in_ent"] = inside
    count = 0
    for i in range(start, end):
        if (doc[i].text == "," and i + 1 < end and doc[i + 1].lower_ in {"and", "but"}
                and not any(doc[j].text == "," for j in range(start, i))):
            # "no osteophytes, and linear calcifications": a comma before "and" joins a
            # list of three or more ("no fever, chills, and weight loss"); after one item
            # it joins a new clause, out of the negation's reach
            return len(doc)
        if inside[i] or doc[i].lower_ in _LIST_WORDS:
            # "no marrow oedema, and vivid enhancement": a list joint followed by a
            # describing word begins a new phrase, out of the negation's reach
            if (doc[i].lower_ in {"and", "but"} and i + 1 < end and not inside[i + 1]
                    and doc[i + 1].lower_ not in _LIST_WORDS and doc[i + 1].is_alpha):
                return len(doc)
            continue
        count += 1
    return count


@Language.factory(
    "calcdx_negex",
    default_config={
        "neg_termset": None,
        "ent_types": None,
        "extension_name": "negex",
        "chunk_prefix": None,
        "span_keys": None,
    },
)
def _make_negex(
    nlp: Language,
    name: str,
    neg_termset: dict[str, list[str]],
    ent_types: list[str] | None,
    extension_name: str,
    chunk_prefix: list[str] | None,
    span_keys: list[str] | None,
) -> _PhraseNegex:
    negex = _PhraseNegex(nlp, name, neg_termset, ent_types, extension_name, chunk_prefix,
                         span_keys)
    if extension_name in {"negex", "uncertain"}:
        negex.max_gap = _NEGATION_WINDOW
    return negex


#: The longest description read (characters); longer input is a usage error.
MAX_CHARS: Final = 20_000

#: Case paths that take one value (the first mention wins; later ones are set aside).
_SINGLE: Final = (
    "imaging.modality",
    "imaging.region",
    "imaging.location",
    "imaging.organ",
    "imaging.extent",
    "imaging.evolution",
)

#: Fields read from where the finding is.
_PLACES: Final = frozenset({"imaging.region", "imaging.location", "imaging.organ"})
#: Words of a list of body parts a study is named by ("CT of the left hip and thigh").
_STUDY_LIST_WORDS: Final = frozenset(
    {"the", "and", ",", "both", "left", "right", "a", "ap", "pa", "lateral", "frontal",
     "oblique", "plain"}
)
#: Nouns after a body part that make it part of a disease's name ("heart disease").
_DISEASE_NOUNS: Final = frozenset(
    {"disease", "diseases", "failure", "insufficiency", "transplant", "transplantation",
     "cancer", "carcinoma", "sarcoma", "infection", "infections", "disorder", "fibrosis",
     "embolism", "emboli", "hypertension"}
)
#: Words after a body part that say how it was positioned ("with the arm elevated").
_POSITIONING_WORDS: Final = frozenset(
    {"elevated", "abducted", "adducted", "flexed", "extended", "raised", "rotated",
     "outstretched"}
)
#: Body regions holding the mineral that make it multiple ("around the hip and the
#: shoulder, with deposits in the forearm").
_MULTIPLE_SITES: Final = 3
#: Verbs before "back" that make it an adverb ("came back", "sent back").
_BACK_ADVERB_BEFORE: Final = frozenset(
    {"came", "come", "comes", "coming", "went", "go", "goes", "going", "sent", "brought",
     "returned", "turned", "got", "called", "referred", "looked"})
#: Cervical vertebrae named as levels ("C1", "C2-C3", "the atlas", "the odontoid").
_CERVICAL = re.compile(r"^(?:c[1-7]\b|atlas|axis|odontoid|dens\b|cervical)")
#: Rank of a place named in a sentence of the history (no study, mineral or pattern in
#: it): after a place a study's sentence names (2), before the study's own name (3).
_HISTORY_PLACE_RANK: Final = 2.5
#: In a sentence naming the mineral, places farther than `_NEAR_MINERAL` tokens from every
#: mineral phrase come after those near one (`_FAR_STEP`: less than the next rank step).
_NEAR_MINERAL: Final = 6
_NEAREST_CAP: Final = 40
_FAR_STEP: Final = 0.01
#: Rank of a place a sentence naming the mineral gives as a pain's site ("back pain"):
#: after the places of the mineral and of the study's name, before other sentences'.
_PAIN_SITE_RANK: Final = 1.5
#: Added to the rank of a region named as a neighbour ("displacing the kidney"): after
#: the places of the same kind of sentence, before those of the next kind.
_NEIGHBOUR_RANK: Final = 0.25
#: Clinical values that name a pain (its onset also states acute or chronic pain).
_NAMED_PAINS: Final = frozenset({"abdominal_pain"})
#: Words that say an organ was taken out ("his gallbladder had been removed"): an
#: operation in the history, not the place of the lesion seen now.
_REMOVAL_WORDS: Final = frozenset(
    {"removed", "resected", "excised", "extirpated", "taken"}
)
#: Words allowed between the organ and the removal word ("had been", "was surgically").
_REMOVAL_GAP: Final = frozenset(
    {"had", "has", "have", "been", "was", "were", "is", "already", "previously",
     "surgically", "laparoscopically", "then", "later", "out"}
)
#: Words between a neurological injury and its level ("injury at the level of C5").
_INJURY_LEVEL_WORDS: Final = frozenset({"at", "of", "in", "the", "level", "above", "below"})
_INJURY_LEVEL_REACH: Final = 4
#: The operation a removed organ states, where the vocabulary names one.
_REMOVAL_OPERATIONS: Final = {"gallbladder": "cholecystectomy"}
#: MRI sequence names written like vertebral levels, and the words that show them
#: to be sequences ("low signal on T1 and T2", "T2-weighted", "T1 MRI").
_SEQUENCE_NAMES: Final = frozenset({"t1", "t2"})
_SEQUENCE_WORDS: Final = frozenset(
    {"mri", "mr", "signal", "weighted", "intense", "isointense", "hypointense",
     "hyperintense", "bright", "dark", "stir", "sequence", "sequences", "fat-suppressed",
     "suppressed", "image", "images"}
)

#: When several modalities are described, the case takes the one that shows mineral
#: best (CT characterises calcification and ossification best, then radiographs; MRI
#: and ultrasound see mineral only as signal void or shadowing): the primary findings
#: of a calcification case are those of that modality.
_MODALITY_RANK: Final = ("ct", "radiograph", "mri", "us")

#: Extent and arrangement words count only this close (tokens) to a lesion noun or a
#: mineral word: "diffuse abdominal pain" and "both ovaries removed" state no extent.
_EXTENT_WINDOW: Final = 4
#: Counts written in digits ("12 irregular fragments"): (extent, lowest, highest), as the
#: count words of the lexicon read them (two to five few, six or more multiple).
_DIGIT_COUNTS: Final = (("few_regional", 2, 5), ("multiple_regional", 6, 99))
#: Words after a number that make it a measurement, not a count ("12 x 6 mm stone").
_UNIT_WORDS: Final = frozenset(
    {"x", "by", "mm", "cm", "m", "millimetre", "millimetres", "millimeter", "millimeters",
     "centimetre", "centimetres", "centimeter", "centimeters", "year", "years", "month",
     "months", "week", "weeks", "day", "days", "hour", "hours", "degree", "degrees"}
)
#: How far after a count word (tokens) the counted noun is looked for ("a few punctate
#: T1-bright spots").
_COUNTED_REACH: Final = 7

#: A lesion named in the singular ("a calcified mass") states a solitary lesion unless a
#: plural lesion noun is named too; "calcifications" and "foci" can lie within one lesion.
_SINGULAR_DETERMINERS: Final = frozenset({"a", "an", "one", "single"})
_PLURAL_WITHIN_ONE: Final = frozenset(
    {"calcifications", "foci", "flecks", "densities", "areas", "opacities", "spots", "specks",
     "dots", "shadows"}
)
_IRREGULAR_PLURALS: Final = frozenset({"foci", "calculi"})
#: Singular nouns of one lesion that can hold foci of mineral.
_ONE_LESION_NOUNS: Final = frozenset(
    {"mass", "lesion", "tumour", "tumor", "nodule", "swelling", "cyst", "lump", "thickening",
     "collection", "structure", "shadow", "opacity", "density"}
)

#: Nouns that, in a sentence describing the imaging, state a soft-tissue mass.
_MASS_NOUNS: Final = frozenset({"mass", "masses"})
#: Longest noun phrase looked back over (tokens), and the words that end one.
_NOUN_PHRASE_MAX: Final = 8
_PHRASE_BREAKS: Final = frozenset(
    {".", ";", ":", "and", "or", "with", "of", "in", "on", "at", "showed", "revealed",
     "demonstrated", "was", "were", "is", "are", "the", "two", "three", "several", "multiple"}
)
#: Words before a body part that make it a neighbour of the lesion, not its place.
_BESIDE_WORDS: Final = frozenset(
    {"displacing", "displaced", "displaces", "pushing", "pushed", "pushes", "compressing",
     "compressed", "compresses", "abutting", "abuts", "indenting", "indents", "effacing",
     "involving", "encasing", "encased", "invading", "infiltrating", "narrowing",
     "separate", "separated", "apart", "away", "beside", "tethering", "tether",
     "beneath", "underneath", "below", "above", "behind", "under", "tethered", "overlying",
     "intact", "adjacent", "near", "next", "close", "outside", "between",
     "wrapping", "wrapped", "flattening", "flattened", "stretching", "stretched",
     # a radiograph shows where a density projects, not which organ holds it
     "projecting", "projected", "projects", "superimposed", "overlapping", "overlaps"}
)
#: Verbs of mass effect: what the lesion pushes on lies beside it, perhaps in another
#: region ("above the condyle", "near the hip" still say the region).
_PUSHED_WORDS: Final = frozenset(
    {"displacing", "displaced", "displaces", "pushing", "pushed", "pushes", "compressing",
     "compressed", "compresses", "indenting", "indents", "effacing", "abutting", "abuts",
     "flattening", "flattened", "elevating", "stretching"}
)
#: Words that end the stretch a neighbour verb scopes over ("pushing the pancreatic
#: tail, kidney and stomach aside"; but "displacing the bowel, in the mesentery").
_BESIDE_BREAKS: Final = frozenset(
    {".", ";", ":", "with", "in", "within", "into", "inside", "of", "at", "from", "showed",
     "revealed", "which", "that", "was", "were", "is", "are"}
)
_BESIDE_REACH: Final = 8
#: Words before "from" / "of" that put the lesion apart from a structure ("separate from
#: the skin", "free of the bone", "distinct from the gland").
_APART_WORDS: Final = frozenset(
    {"separate", "separated", "free", "distinct", "away", "apart", "clear", "detached",
     "independent", "spared", "sparing"}
)
#: States a structure is described in for its own sake ("the gland was atrophic").
_ORGAN_STATES: Final = frozenset(
    {"atrophic", "atrophied", "enlarged", "swollen", "normal", "unremarkable", "small",
     "shrunken", "intact", "spared", "preserved", "displaced", "compressed", "distended",
     "thickened", "oedematous", "edematous", "inflamed", "tender", "hypertrophic",
     "hypoplastic", "bulky", "removed", "absent", "empty", "collapsed", "contracted"}
)
#: Words after an operation word that say it found or showed the lesion ("surgery showed").
_OPERATION_FINDS: Final = frozenset(
    {"showed", "revealed", "found", "confirmed", "disclosed", "demonstrated", "proved",
     "identified"}
)
#: Nouns of a lesion as the patient or the examiner meets it ("a lump", "a swelling").
_CLINICAL_LESION_NOUNS: Final = frozenset(
    {"lump", "lumps", "swelling", "swellings", "mass", "masses", "nodule", "nodules",
     "tumour", "tumor", "lesion", "lesions", "deposit", "deposits", "plaque", "plaques"}
)
#: Words before an injury word that say no injury happened ("a pathological fracture").
_NOT_INJURY_BEFORE: Final = frozenset(
    {"pathological", "pathologic", "insufficiency", "fragility", "osteoporotic",
     # "acute kidney injury": a failing kidney, not an injury to the body
     "kidney", "renal",
     # "an ulcerated wound", "a surgical wound": an ulcer or an operation, not an injury
     "ulcerated", "ulcerating", "non-healing", "nonhealing", "surgical", "operative",
     # "frequent falls": a symptom of frailty or fainting, not one injury told
     "frequent", "recurrent", "repeated"}
)
#: Words after an injury word that make it a name of something else ("knock knees":
#: genu valgum).
_NOT_INJURY_AFTER: Final = frozenset({"knee", "knees", "kneed"})
#: Things felt that are not a mass ("palpable pulses", "palpable lymph nodes").
_NOT_A_MASS_AFTER: Final = frozenset(
    {"pulse", "pulses", "node", "nodes", "lymph", "lymphadenopathy", "thrill", "spleen",
     "liver", "bladder", "kidney", "organomegaly", "hepatomegaly", "splenomegaly", "purpura"}
)
#: Nouns after "red", "hot", "warm" that are no inflamed site ("red marrow", "a hot spot").
_NOT_INFLAMED_AFTER: Final = frozenset(
    {"marrow", "cell", "cells", "blood", "spot", "spots", "pulp", "nucleus", "flag", "flags",
     "compress", "compresses", "water", "bath"}
)
#: Words before "teeth" that make them the patient's dentition ("his lower teeth").
_DENTITION_WORDS: Final = frozenset(
    {"his", "her", "their", "the", "lower", "upper", "molar", "premolar", "wisdom", "front",
     "adjacent", "neighbouring", "neighboring", "remaining", "missing", "loose", "incisor",
     "canine", "deciduous", "permanent", "impacted", "unerupted", "carious", "decayed"}
)
#: Words before "enlarged" that make it a growth ("had slowly enlarged").
_GROWTH_BEFORE: Final = frozenset(
    {"had", "has", "have", "slowly", "gradually", "progressively", "rapidly", "steadily",
     "progressive", "gradual", "slow", "rapid", "further", "then", "since", "subsequently",
     "later"}
)
#: Words after a growth word that make it a direction ("growing out of the liver").
_DIRECTION_AFTER_GROWTH: Final = frozenset({"out", "into", "from", "through", "towards",
                                            "toward", "along"})
#: Parts named before an organ ("the left lobe of the liver"), looked through by `_beside`.
_PART_NOUNS: Final = frozenset(
    {"side", "lobe", "margin", "edge", "border", "surface", "aspect", "tip", "pole", "wall",
     "end", "poles", "sides", "margins", "edges"}
)
#: Side words between an article and the structure ("the right kidney").
_SIDE_ADJECTIVES: Final = frozenset({"left", "right", "upper", "lower", "both"})
#: "<side> to" a structure puts the lesion beside it ("lateral to the bladder").
_SIDE_OF_WORDS: Final = frozenset(
    {"lateral", "medial", "anterior", "posterior", "superior", "inferior", "deep",
     "superficial", "proximal", "distal", "adjacent", "next", "close"}
)
#: Words before a body part or tissue that make it the term of a comparison
#: ("isointense to muscle", "lower in density than muscle"), not a place.
_SIGNAL_WORDS: Final = frozenset(
    {"signal", "density", "attenuation", "intensity", "echogenicity", "echotexture"}
)
_COMPARED_WORDS: Final = frozenset(
    {"similar", "equal", "identical", "compared", "relative", "isointense", "hypointense",
     "hyperintense", "isodense", "hypodense", "hyperdense", "isoechoic", "hypoechoic",
     "hyperechoic"}
)
#: Periarticular: a word of nearness ("around", "beside", "outside"...) and then, within
#: a few words of the same phrase, a joint ("around the right hip", "beside the ulnar
#: side of the joint", "medial and lateral to the joint").
_NEAR_WORDS: Final = frozenset(
    {"around", "surrounding", "surrounded", "beside", "adjacent", "near", "next", "outside"}
)
#: Inside a joint: intra-articular ("bodies throughout the glenohumeral joint").
_INSIDE_WORDS: Final = frozenset({"within", "inside", "throughout"})
_JOINT_ONLY: Final = frozenset({"joint", "joints"})
_SIDE_WORDS: Final = frozenset({"medial", "lateral"})
_JOINT_NOUNS: Final = frozenset(
    {"joint", "joints", "hip", "hips", "shoulder", "shoulders", "knee", "knees", "elbow",
     "elbows", "wrist", "wrists", "ankle", "ankles", "articulation"}
)
_NEAR_BREAKS: Final = frozenset(
    {".", ";", ":", ",", "with", "showed", "revealed", "which", "that", "but", "in", "into",
     "within", "inside", "was", "were", "is", "are", "from"}
)
_NEAR_REACH: Final = 7
#: Words in a noun phrase that give a calcified mass a part that is not mineral
#: ("partly calcified mass", "calcified soft-tissue mass").
_PART_WORDS: Final = frozenset(
    {"partly", "partially", "part", "focally", "peripherally", "centrally", "soft", "tissue"}
)
#: Body-part words that, followed by "of", give a direction ("the back of the rib").
_DIRECTION_NOUNS: Final = frozenset({"back", "front", "side", "head", "base", "neck", "top"})
#: Tumour nouns, and how close (tokens) a mineral word must be to a mass or tumour for
#: "calcified mass", "mass with coarse calcifications" to place the mineral within it.
_TUMOUR_NOUNS: Final = frozenset({"tumour", "tumor", "tumours", "tumors"})
_WITHIN_MASS_GAP: Final = 4
#: Words by which a mass holds the mineral named after them ("a soft-tissue mass of the
#: shoulder containing coarse calcification"), looked for up to `_HOLDS_REACH` tokens
#: after the mass and up to `_WITHIN_MASS_GAP` tokens before the mineral.
_HOLDING_WORDS: Final = frozenset(
    {"containing", "contains", "contained", "with", "holding", "held", "harbouring",
     "harboring"}
)
_HOLDS_REACH: Final = 14
#: Words that end the noun phrase a holding word governs ("with a rim, and calcification").
_HELD_BREAKS: Final = frozenset(
    {",", ";", ":", "and", "or", "but", "which", "that", "in", "at", "on", "from"})
_NEGATORS: Final = frozenset({"no", "without", "not", "nor"})

#: Matrix values from most to least specific: "ossified" outranks "calcified".
_MATRIX_RANK: Final = (
    "foreign_material",
    "ossification",
    "dense_noncalcified",
    "calcification",
    "indeterminate",
)

#: Fact kinds a negation can apply to (negated places and shapes are not read at all).
_NEGATABLE: Final = frozenset(
    {"clinical", "imaging.associated", "trauma", "lab_state", "imaging.pattern", "pain",
     "imaging.matrix"}
)

_EXAMPLE: Final = (
    "e.g. '34-year-old man, kicked in the thigh 3 weeks ago: a 4 cm peripherally "
    "calcified mass in vastus lateralis; no periosteal reaction'"
)

_NUMBER = r"\d+(?:[.,]\d+)?"
_SIZE = re.compile(
    rf"(?<![\w.])({_NUMBER})(?:\s*(?:-|–|to)\s*({_NUMBER}))?"
    rf"((?:\s*(?:x|×|by|\*)\s*{_NUMBER})*)\s*-?\s*"
    r"(mm|cm|millimet(?:re|er)s?|centimet(?:re|er)s?)(?![\w])",
    re.IGNORECASE,
)
_DIMENSION = re.compile(_NUMBER)
_DISTANCE_AFTER = re.compile(
    r"^\W*(?:from|away|proximal to|distal to|above|below|deep to|beneath|lateral to|"
    r"medial to|of the joint line|apart|downwards?|upwards?|outside|beyond|inferiorly|"
    r"superiorly|caudally|cranially|distally|proximally|of displacement|of retraction)\b",
    re.IGNORECASE,
)
#: After the unit: a rate or a pressure ("ESR 30 mm/h", "120 mmHg"), not a length.
_RATE_AFTER = re.compile(r"^\s*(?:/|hg\b|per\b)", re.IGNORECASE)
#: Before the number: a movement, so the length is how far something moved
#: ("pulled about 1.5 cm downward", "displaced by 2 cm").
_MOVED_BEFORE = re.compile(
    r"\b(?:displaced|pulled|retracted|migrated|moved|shifted|avulsed|separated)"
    r"(?:\s+(?:by|about|approximately|some|nearly|almost|up to))*\s*$",
    re.IGNORECASE,
)
#: Nouns a length may be of that are not the lesion ("a 0.2 cm ulcer", "a 3 cm scar").
_NOT_LESION_AFTER = re.compile(
    r"^[\s-]*(?:long\s+|wide\s+|deep\s+)?(?:ulcers?|ulceration|wounds?|incisions?|scars?|"
    r"gaps?|defects?|sinus(?:es)?|openings?|lacerations?|cuts?)\b",
    re.IGNORECASE,
)
_AGE = re.compile(
    rf"(?:(?<![\w.])({_NUMBER})\s*-?\s*(year|yr|month|week|day)s?\s*-?\s*old\b)"
    r"|(?:\baged?\s+(\d{1,3})\b)"
    r"|(?:(?<![\w.])(\d{1,3})\s*(?:yo|y/o|y\.o\.|years? of age)(?![\w]))",
    re.IGNORECASE,
)
_AGE_UNIT_YEARS: Final = {"year": 1.0, "yr": 1.0, "month": 1 / 12, "week": 1 / 52, "day": 1 / 365}

#: Words between a lab name and the level after it ("calcium and phosphate were normal").
_LAB_GAP: Final = frozenset(
    {"and", "or", ",", "both", "all", "was", "were", "is", "are", "level", "levels", "serum",
     "the", "(", ")", "mmol", "/", "l", "mg", "dl", "µmol", "umol", "iu", "u", "value",
     "values", "concentration", "concentrations", "remained", "found", "to", "be", "also",
     "of", "a", "an", "plasma", "blood", ":", "=", "with", "reported", "measured", "intact",
     "total"}
)


@dataclass(frozen=True)
class Phrase:
    """Words of the text, with their character offsets.

    Attributes
    ----------
    words : str
        The text's own words.
    start, end : int
        Character offsets in the text (``text[start:end] == words``).
    """

    words: str
    start: int
    end: int

    def to_dict(self) -> dict[str, Any]:
        """The phrase as JSON."""
        return {"words": self.words, "start": self.start, "end": self.end}


@dataclass(frozen=True)
class ReadValue:
    """One case value and the words it was read from.

    Attributes
    ----------
    field : str
        Case-format path: ``patient.age_years``, ``clinical``, ``clinical_absent``,
        ``labs.calcium``, ``imaging.region``, ``imaging.associated_absent``...
    value : str or float
        The value (a vocabulary value, a lab level, or a number: years, mm).
    source : Phrase
        The words it came from.
    """

    field: str
    value: str | float
    source: Phrase

    def to_dict(self) -> dict[str, Any]:
        """The value as JSON."""
        return {"field": self.field, "value": self.value, **self.source.to_dict()}


@dataclass(frozen=True)
class SetAside:
    """Words the reader recognised but did not put in the case, and why.

    Attributes
    ----------
    source : Phrase
        The words.
    reason : str
        Why (negated place, uncertain, family history, a second value of a
        one-value field, a lab without a level...).
    """

    source: Phrase
    reason: str

    def to_dict(self) -> dict[str, Any]:
        """The item as JSON."""
        return {**self.source.to_dict(), "reason": self.reason}


@dataclass(frozen=True)
class Reading:
    """What the reader understood of one description.

    Attributes
    ----------
    text : str
        The description.
    case : Case
        The validated case.
    values : tuple of ReadValue
        Every value of the case with the words it came from, in text order.
    set_aside : tuple of SetAside
        Recognised words left out of the case, with the reason.
    not_understood : tuple of Phrase
        Content words the lexicon does not know (not turned into any value).
    """

    text: str
    case: Case
    values: tuple[ReadValue, ...]
    set_aside: tuple[SetAside, ...] = field(default=())
    not_understood: tuple[Phrase, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        """The reading as JSON (``calcdx-reading/1``)."""
        return {
            "format": READING_FORMAT,
            "case": self.case.to_json_dict(),
            "fields": [value.to_dict() for value in self.values],
            "set_aside": [item.to_dict() for item in self.set_aside],
            "not_understood": [phrase.to_dict() for phrase in self.not_understood],
        }


def _sent(span: Span) -> Span:
    """The sentence a span starts in (looked up once per document, not rescanned)."""
    doc = span.doc
    table = doc.user_data.get("calcdx_sents")
    if table is None:
        sents = list(doc.sents)
        index = [0] * len(doc)
        for number, sent in enumerate(sents):
            for i in range(sent.start, sent.end):
                index[i] = number
        table = doc.user_data["calcdx_sents"] = (sents, index)
    sents, index = table
    return sents[index[span.start]]


def _ents_in(sent: Span) -> tuple[Span, ...]:
    """The entities of a sentence (listed once per document, not rebuilt)."""
    doc = sent.doc
    table: dict[int, tuple[Span, ...]] | None = doc.user_data.get("calcdx_sent_ents")
    if table is None:
        table = {}
        for ent in doc.ents:
            table.setdefault(_sent(ent).start, ())
            table[_sent(ent).start] += (ent,)
        doc.user_data["calcdx_sent_ents"] = table
    return table.get(sent.start, ())


def _phrase(span: Span) -> Phrase:
    return Phrase(span.text, span.start_char, span.end_char)


def _char_phrase(text: str, start: int, end: int) -> Phrase:
    return Phrase(text[start:end], start, end)


class _Terms:
    """The ``calcdx_terms`` component: lexicon phrases as labelled entities."""

    def __init__(self, nlp: Language, lexicon: Lexicon) -> None:
        self.matcher = PhraseMatcher(nlp.vocab, attr="NORM")
        self.labels: dict[str, tuple[Fact, ...]] = {}
        # spellings that match the same words ("submandibular glands", "submandibular
        # gland") state the facts of all of them: the matcher would keep one of the two
        merged: dict[tuple[str, ...], tuple[Doc, set[Fact]]] = {}
        for written, facts in lexicon.phrases.items():
            doc = nlp.make_doc(written)
            _set_norms(doc)
            key = tuple(token.norm_ for token in doc)
            if key in merged:
                merged[key][1].update(facts)
            else:
                merged[key] = (doc, set(facts))
        by_facts: dict[tuple[Fact, ...], list[Doc]] = {}
        for doc, found in merged.values():
            by_facts.setdefault(tuple(sorted(found)), []).append(doc)
        for number, (facts, docs) in enumerate(by_facts.items()):
            label = f"T{number}"
            self.labels[label] = facts
            self.matcher.add(label, docs)

    def __call__(self, doc: Doc) -> Doc:
        _set_norms(doc)
        spans = self.matcher(doc, as_spans=True)
        doc.ents = filter_spans(spans)
        return doc


def _set_norms(doc: Doc) -> None:
    for token in doc:
        token.norm_ = normal_form(token.text)


def _clinical_terms() -> dict[str, list[str]]:
    """The English clinical NegEx term set of negspacy (pseudo, preceding, following, end)."""
    patterns: dict[str, list[str]] = termset("en_clinical").get_patterns()  # type: ignore[no-untyped-call]
    return patterns


def _termset(
    lexicon: Lexicon,
    preceding: Sequence[str],
    following: Sequence[str],
    extra_termination: Sequence[str] = (),
    extra_pseudo: Sequence[str] = (),
) -> Any:
    base = _clinical_terms()
    termination = sorted(
        set(base["termination"]) | set(lexicon.context["termination"]) | set(extra_termination)
    )
    return {
        "pseudo_negations": sorted(set(base["pseudo_negations"]) | set(extra_pseudo)),
        "preceding_negations": sorted(set(preceding)),
        "following_negations": sorted(set(following)),
        "termination": termination,
    }


def _build_pipeline(lexicon: Lexicon) -> tuple[Language, _Terms]:
    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer", config={"punct_chars": [".", "!", "?", ";"]})
    terms = _Terms(nlp, lexicon)
    name = f"calcdx_terms_{id(terms)}"
    Language.component(name, func=terms)
    nlp.add_pipe(name)
    negatable = [
        label
        for label, facts in terms.labels.items()
        if any(fact.kind in _NEGATABLE for fact in facts)
    ]
    matrix_labels = [
        label
        for label, facts in terms.labels.items()
        if any(fact.kind == "imaging.matrix" for fact in facts)
    ]
    # places are in the scope of negation, uncertainty and family history too: "no liver
    # abnormality", "confused with an ovarian tumour" and "her father had lumps in the
    # upper arm" say nothing of where this lesion is
    place_labels = [
        label
        for label, facts in terms.labels.items()
        if any(fact.kind in _PLACES for fact in facts)
    ]
    base = _clinical_terms()
    context = lexicon.context
    negation = _termset(
        lexicon,
        [*(term for term in base["preceding_negations"] if term not in _REQUEST_WORDS),
         *context["preceding_negations"]],
        [*base["following_negations"], *context["following_negations"]],
        context.get("negation_termination", []),
        context.get("pseudo_negations", []),
    )
    nlp.add_pipe(
        "calcdx_negex",
        name="negex",
        config={"neg_termset": negation, "ent_types": [*negatable, *place_labels],
                "extension_name": "negex"},
    )
    nlp.add_pipe(
        "calcdx_negex",
        name="uncertain",
        config={
            "neg_termset": _termset(lexicon, context["uncertain"],
                                    context.get("uncertain_following", [])),
            "extension_name": "uncertain",
            "ent_types": [*negatable, *place_labels],
        },
    )
    nlp.add_pipe(
        "calcdx_negex",
        name="family",
        config={
            "neg_termset": _termset(lexicon, context["family"], [],
                                    extra_pseudo=context.get("family_pseudo", [])),
            "extension_name": "family",
            "ent_types": [*negatable, *matrix_labels, *place_labels],
        },
    )
    return nlp, terms


#: negspacy's clinical NegEx terms that ask rather than deny: "to rule out a fracture"
#: is the request of a study (uncertainty, in the lexicon), "ruled out" denies.
_REQUEST_WORDS: Final = frozenset(
    {"rule out", "rules out", "rule him out", "rule her out", "rule patient out",
     "rule the patient out"}
)


#: Findings stated by a construction rather than a fixed phrase: a joint said to be
#: narrowed ("narrowing of the tibiofemoral and patellofemoral joint spaces", "the
#: radioscaphoid joint was narrowed") and nodes said to be enlarged ("several enlarged
#: retroperitoneal lymph nodes").
_JOINT_WORDS: Final = ["joint", "joints"]
_NARROW_WORDS: Final = ["narrowing", "narrowed", "narrow"]
_BE_WORDS: Final = ["was", "were", "is", "are"]
#: Bone and the bones by name, as the object of erosion or destruction (matching forms).
_BONE_OBJECTS: Final = sorted(normal_form(word) for word in (
    "bone", "bones", "cortex", "cortices", "cortical", "osseous", "bony", "marrow", "rib",
    "femur", "tibia", "fibula", "humerus", "radius", "ulna", "vertebra", "vertebral", "skull",
    "calvarium", "mandible", "maxilla", "scapula", "clavicle", "sternum", "ilium", "iliac",
    "acetabulum", "acetabular", "sacrum", "pubis", "ischium", "calcaneus", "talus", "patella",
    "phalanx", "phalanges", "metacarpal", "metatarsal", "odontoid", "dens", "roof", "tuft",
    "tufts", "condyle", "trochanter", "epicondyle", "olecranon", "malleolus"))
_PHRASINGS: Final[dict[str, list[list[dict[str, Any]]]]] = {
    "joint_space_narrowing": [
        [{"LOWER": {"IN": _NARROW_WORDS}}, {"LOWER": "of"}, {"LOWER": "the", "OP": "?"},
         {"IS_ALPHA": True, "OP": "{0,4}"}, {"LOWER": {"IN": _JOINT_WORDS}}],
        [{"LOWER": {"IN": _JOINT_WORDS}}, {"LOWER": {"IN": ["space", "spaces"]}, "OP": "?"},
         {"LOWER": {"IN": _BE_WORDS}}, {"LOWER": {"IN": ["not", "mildly", "markedly"]},
                                        "OP": "?"},
         {"LOWER": {"IN": _NARROW_WORDS}}],
    ],
    # "eroding the front of the acetabular roof", "destroying the rib": a verb of erosion
    # or destruction whose object is bone (not "eroding into the bowel")
    "bone_erosion": [
        [{"LOWER": {"IN": ["eroding", "eroded", "erodes", "erode"]}},
         {"IS_ALPHA": True, "LOWER": {"NOT_IN": ["into", "through"]}, "OP": "{0,5}"},
         {"NORM": {"IN": _BONE_OBJECTS}}],
        [{"NORM": {"IN": _BONE_OBJECTS}}, {"LOWER": {"IN": _BE_WORDS}},
         {"LOWER": {"IN": ["eroded", "scalloped"]}}],
    ],
    "bone_destruction": [
        [{"LOWER": {"IN": ["destroying", "destroyed", "destroys", "destroy"]}},
         {"IS_ALPHA": True, "OP": "{0,5}"}, {"NORM": {"IN": _BONE_OBJECTS}}],
        [{"NORM": {"IN": _BONE_OBJECTS}}, {"LOWER": {"IN": _BE_WORDS}},
         {"LOWER": "destroyed"}],
    ],
    "lymphadenopathy": [
        [{"LOWER": {"IN": ["enlarged", "enlarging", "bulky", "prominent"]}},
         {"IS_ALPHA": True, "OP": "{0,3}"}, {"LOWER": {"IN": ["node", "nodes"]}}],
    ],
}


def _phrasing_matcher(nlp: Language) -> Matcher:
    matcher = Matcher(nlp.vocab)
    for value, patterns in _PHRASINGS.items():
        matcher.add(value, patterns)
    return matcher


def _count_matcher(nlp: Language, lexicon: Lexicon) -> Matcher:
    """Count word, up to three words, lesion noun: the count states the extent."""
    matcher = Matcher(nlp.vocab)
    nouns = sorted({normal_form(noun) for noun in lexicon.count_nouns})
    for extent, words in lexicon.counts.items():
        pattern: list[dict[str, Any]] = [
            {"LOWER": {"IN": words}},
            {"IS_ALPHA": True, "OP": "{0,3}"},
            {"NORM": {"IN": nouns}},
        ]
        # "multiple large, irregularly shaped calcifications", "multiple round,
        # target-like radiopacities": describing words joined by commas and hyphens
        listed: list[dict[str, Any]] = [
            {"LOWER": {"IN": words}},
            {"TEXT": {"REGEX": r"^([A-Za-z]+|,|-)$"},
             "LOWER": {"NOT_IN": sorted(_UNIT_WORDS | _PHRASE_BREAKS)}, "OP": "{1,6}"},
            {"NORM": {"IN": nouns}},
        ]
        matcher.add(extent, [pattern, listed])
    # "12 irregular fragments": a count in digits, then describing words (not a unit)
    for extent, low, high in _DIGIT_COUNTS:
        digits: list[dict[str, Any]] = [
            {"TEXT": {"IN": [str(n) for n in range(low, high + 1)]}},
            {"IS_ALPHA": True, "LOWER": {"NOT_IN": list(_UNIT_WORDS)}, "OP": "{0,2}"},
            {"NORM": {"IN": nouns}},
        ]
        matcher.add(extent, [digits])
    return matcher


@dataclass
class _Draft:
    """The case being assembled from one document."""

    values: list[ReadValue] = field(default_factory=list)
    set_aside: list[SetAside] = field(default_factory=list)
    covered: list[tuple[int, int]] = field(default_factory=list)
    #: Regions named in the sentences that state the mineral, with their words.
    sites: list[tuple[str, Phrase]] = field(default_factory=list)
    #: Injury words read as recent only because no time was stated near them.
    untimed_injuries: list[Phrase] = field(default_factory=list)

    def has(self, path: str) -> ReadValue | None:
        return next((v for v in self.values if v.field == path), None)

    def add(self, path: str, value: str | float, source: Phrase) -> None:
        if path in _SINGLE or path.startswith(("labs.", "patient.")):
            earlier = self.has(path)
            if earlier is not None:
                if earlier.value != value:
                    self.set_aside.append(
                        SetAside(source, f"{path} already read as {earlier.value} "
                                 f"from {earlier.source.words!r}")
                    )
                return
        elif any(v.field == path and v.value == value for v in self.values):
            return
        opposite = _OPPOSITE.get(path)
        if opposite and any(v.field == opposite and v.value == value for v in self.values):
            self.set_aside.append(SetAside(source, f"{value} is also stated the other way"))
            return
        self.values.append(ReadValue(path, value, source))


_OPPOSITE: Final = {
    "clinical": "clinical_absent",
    "clinical_absent": "clinical",
    "imaging.associated": "imaging.associated_absent",
    "imaging.associated_absent": "imaging.associated",
}


class TextReader:
    """Reads free-text descriptions into cases; build once, read many.

    Parameters
    ----------
    lexicon : Lexicon, optional
        Phrases and context terms (default: the packaged lexicon).
    """

    def __init__(self, lexicon: Lexicon | None = None) -> None:
        self.lexicon = lexicon or load_lexicon()
        self._nlp, self._terms = _build_pipeline(self.lexicon)
        self._counts = _count_matcher(self._nlp, self.lexicon)
        self._phrasings = _phrasing_matcher(self._nlp)
        self._lesion_nouns = frozenset(normal_form(noun) for noun in self.lexicon.count_nouns)
        self._matrix_words = frozenset(
            normal_form(phrase) for phrase, facts in self.lexicon.phrases.items()
            if " " not in phrase and any(f.kind == "imaging.matrix" for f in facts))

    def read(self, text: str) -> Reading:
        """Read one description.

        Parameters
        ----------
        text : str
            The finding described in plain English.

        Returns
        -------
        Reading
            The case, the words behind each value, what was set aside and
            what was not understood.

        Raises
        ------
        TextError
            When the text is empty, too long, or states no finding the reader knows.
        """
        _check_text(text)
        return self._interpret(self._nlp(text))

    def read_many(self, texts: Iterable[str]) -> Iterator[Reading | TextError]:
        """Read descriptions in order; a text that cannot be read yields its error.

        Parameters
        ----------
        texts : iterable of str

        Yields
        ------
        Reading or TextError
            One per text, in input order.
        """
        pending: list[tuple[str, TextError | None]] = []
        for text in texts:
            try:
                _check_text(text)
            except TextError as exc:
                pending.append((text, exc))
            else:
                pending.append((text, None))
        docs = iter(self._nlp.pipe(text for text, error in pending if error is None))
        for _, error in pending:
            if error is not None:
                yield error
                continue
            try:
                yield self._interpret(next(docs))
            except TextError as exc:
                yield exc

    # -- interpretation ----------------------------------------------------------------

    def _interpret(self, doc: Doc) -> Reading:
        draft = _Draft()
        _read_age(doc, draft)
        _read_size(doc, draft)
        self._read_entities(doc, draft)
        self._read_counts(doc, draft)
        imaging = [sent for sent in doc.sents if _names_finding(sent, self._terms.labels)]
        self._read_levels(doc, draft)
        _read_sites(doc, draft, self._lesion_nouns)
        self._read_singular(doc, imaging, draft)
        self._read_mass(doc, imaging, draft)
        self._read_within_mass(doc, draft)
        self._read_phrasings(doc, draft)
        _drop_absent_pain(draft)
        _drop_incidental_with_symptoms(draft)
        _no_recent_injury_when_acute(draft)
        _untimed_injury_follows_timed(draft)
        _drop_stray_organ(draft)
        values = sorted(draft.values, key=lambda v: (v.source.start, v.field))
        if not any(not v.field.startswith("patient.") for v in values):
            raise TextError(
                "no finding understood in the text (nothing about where the finding is, "
                "what it looks like, the history or the labs); describe the finding, "
                + _EXAMPLE
            )
        case = _assemble(values)
        return Reading(
            text=doc.text,
            case=case,
            values=tuple(values),
            set_aside=tuple(sorted(draft.set_aside, key=lambda s: s.source.start)),
            not_understood=tuple(self._not_understood(doc, draft)),
        )

    def _read_entities(self, doc: Doc, draft: _Draft) -> None:
        labels = self._terms.labels
        sexes: list[tuple[int, str, Phrase]] = []
        matrices: list[tuple[str, Phrase]] = []
        places: list[tuple[float, int, str, str, Phrase]] = []
        modalities: list[tuple[int, int, str, Phrase]] = []
        for ent in doc.ents:
            draft.covered.append((ent.start, ent.end))
            facts = labels[ent.label_]
            source = _phrase(ent)
            kinds = {fact.kind for fact in facts}
            if ent._.family:
                if "imaging.matrix" in kinds:
                    draft.add("clinical", "family_history_calcinosis", source)
                elif kinds & {"clinical", "trauma", "imaging.associated", "lab_state", *_PLACES}:
                    draft.set_aside.append(SetAside(source, "family history, not the patient"))
                continue
            if ent._.uncertain:
                draft.set_aside.append(SetAside(source, "stated as uncertain"))
                continue
            for fact in facts:
                if fact.kind == "imaging.modality":
                    rank = 0 if _in_finding_sentence(ent, labels) else 1
                    modalities.append(
                        (rank, _MODALITY_RANK.index(fact.value), fact.value, source))
                    continue
                self._apply(doc, ent, fact, source, draft, sexes, matrices, places)
        places += _periarticular(doc, labels)
        if modalities:
            _, _, modality, source = min(modalities, key=lambda m: (m[0], m[1], m[3].start))
            draft.add("imaging.modality", modality, source)
        # where and how it was seen: a mention in a sentence naming the mineral comes first
        # an organ taken out before ("had her gallbladder removed") holds no lesion now
        removed = {organ for organ, operation in _REMOVAL_OPERATIONS.items()
                   if any(v.field == "clinical" and v.value == operation for v in draft.values)}
        gone = {p[4].start for p in places if p[2] == "imaging.organ" and p[3] in removed}
        draft.sites += [(p[3], p[4]) for p in places
                        if p[2] == "imaging.region" and p[0] < _NEIGHBOUR_RANK]
        for _, _, path, value, source in sorted(places, key=lambda p: (p[0], p[1])):
            if path in {"imaging.organ", "imaging.location"} and source.start in gone:
                draft.set_aside.append(SetAside(source, "an organ removed before: it holds "
                                                "no lesion now"))
                continue
            draft.add(path, value, source)
        if sexes:
            _, sex, source = min(sexes, key=lambda item: (item[0], item[2].start))
            draft.add("patient.sex", sex, source)
        if matrices:
            value, source = min(matrices, key=lambda item: _MATRIX_RANK.index(item[0]))
            draft.add("imaging.matrix", value, source)
        _read_labs(doc, labels, draft)

    def _apply(
        self,
        doc: Doc,
        ent: Span,
        fact: Fact,
        source: Phrase,
        draft: _Draft,
        sexes: list[tuple[int, str, Phrase]],
        matrices: list[tuple[str, Phrase]],
        places: list[tuple[float, int, str, str, Phrase]],
    ) -> None:
        negated = (bool(ent._.negex) or _prefixed_non(ent)) and fact.kind in _NEGATABLE
        kind, value = fact
        if kind == "sex":
            sexes.append((0, value, source))
        elif kind == "pronoun":
            sexes.append((1, value, source))
        elif kind == "trauma" and negated and ent.root.lower_.startswith("fracture"):
            # "not fractured", "no acute fracture": an imaging finding; it rules out no injury
            draft.set_aside.append(SetAside(source, "no fracture seen: not a history of trauma"))
        elif negated and kind in {"pain", "clinical"} and _of_other_sites(ent):
            # "no other joint pain", "no swelling of other joints": other sites, not this one
            draft.set_aside.append(SetAside(source, "said of other sites"))
        elif kind == "trauma" and doc[ent.start - 1 : ent.start].text.lower() in {
                "easy", "easily"}:
            draft.set_aside.append(SetAside(source, "easy bruising: a bleeding sign, not injury"))
        elif kind == "trauma" and (
                doc[ent.start - 1 : ent.start].text.lower() in _NOT_INJURY_BEFORE
                or _the_fracture_told_not_injury(ent)
                or doc[ent.end : ent.end + 2].text.lower().startswith(("-like", "- like"))
                or (ent.text.lower() == "knock" and any(
                    t.lower_ in _NOT_INJURY_AFTER for t in doc[ent.end : ent.end + 2]))):
            # "a pathological fracture", "a fracture-like appearance", "acute kidney
            # injury", "knock knees": no injury is told
            draft.set_aside.append(SetAside(source, "no injury told (a pathological fracture, "
                                            "a failing organ, knock knees)"))
        elif kind == "clinical" and _said_of_something_else(ent, value):
            # "palpable pulses", "no palpable nodes", "red marrow", "a hot spot"
            draft.set_aside.append(SetAside(source, f"not {value}: said of something else"))
        elif kind == "trauma":
            # a duration stated right beside the injury ("nine months after a fall") comes
            # before the time words of the sentence; "no trauma" beside "for 8 years": none
            when = None if negated else _trauma_time(ent, _TRAUMA_DURATION_REACH)
            if when is None:
                when = _nearest(ent, self._terms.labels, "time")
            if when is None and not negated:
                when = _trauma_time(ent)
            if negated and when is None:  # "no history of trauma": none, recent or remote
                draft.add("clinical_absent", "trauma_recent", source)
                draft.add("clinical_absent", "trauma_remote", source)
            else:
                if when is None and not negated:
                    draft.untimed_injuries.append(source)
                draft.add("clinical_absent" if negated else "clinical",
                          f"trauma_{when or 'recent'}", source)
        elif kind == "pain" and value == "none" and _describes_lesion(ent):
            # "a painless lump", "the mass was hard and not painful": said of the lump, not a
            # statement that the patient has no pain ("no pain", "without pain" is)
            draft.set_aside.append(SetAside(source, "the lump said painless: not a statement "
                                            "that there is no pain"))
        elif kind == "pain" and (value == "none" or negated):
            draft.add("clinical_absent", "acute_pain", source)
            draft.add("clinical_absent", "chronic_pain", source)
        elif kind == "pain":
            onset = _onset_before(ent, self._terms.labels) or _pain_duration(ent)
            if onset == "subacute":
                draft.set_aside.append(SetAside(
                    source, "pain for 4 weeks to 3 months: neither acute nor chronic"))
                return
            if onset is None:
                onset = _nearest(ent, self._terms.labels, "pain_time", _PAIN_TIME_REACH)
            if negated or onset is None:
                reason = "pain stated as absent" if negated else "pain without a stated onset"
                draft.set_aside.append(SetAside(source, reason))
            else:
                draft.add("clinical", f"{onset}_pain", source)
        elif kind in _PLACES and ent._.negex:
            draft.set_aside.append(SetAside(source, "a place said to hold nothing"))
        elif kind in _PLACES:
            rank: float = 0 if _in_finding_sentence(ent, self._terms.labels) else 2
            if self._names_study(ent):
                rank += 1  # "chest radiograph", "CT of the abdomen": the study, not the lesion
            elif rank == 2 and not _names_finding(_sent(ent), self._terms.labels):
                # "back pain", "pain in the leg and hip": where the history places it comes
                # after where a study saw the lesion ("CT found a mass in the retroperitoneum")
                rank = _HISTORY_PLACE_RANK
            elif rank == 0 and self._names_pain_site(ent):
                # "a lumbar radiograph for back pain showed calcification over the upper
                # abdomen": where it hurts comes after where the mineral is seen
                rank = _PAIN_SITE_RANK
            if ent.text.lower() in _DIRECTION_NOUNS and (
                    _direction_of(doc, ent.end)
                    or doc[ent.start - 1 : ent.start].text.lower() in {"its", "their"}):
                # "the back of the rib", "head and neck of the pancreas", "uneven at its
                # back": a direction
                return
            if ent.text.lower() == "back" and doc[ent.start - 1 : ent.start].text.lower() in (
                    _BACK_ADVERB_BEFORE):
                return  # "she came back with a lump": again, not the back
            if _sequence_name(ent):
                draft.set_aside.append(SetAside(source, "an MRI sequence, not a vertebra"))
                return
            if doc[ent.end : ent.end + 1].text.lower() in _DISEASE_NOUNS:
                draft.set_aside.append(SetAside(source, "names a disease, not the place"))
                return
            if self._place_of_injury(ent):
                draft.set_aside.append(SetAside(source, "the level of a neurological injury "
                                                "in the history, not the lesion's place"))
                return
            if _said_removed(ent):
                draft.set_aside.append(SetAside(source, "an organ said removed: an operation "
                                                "in the history, not the lesion's place"))
                operation = _REMOVAL_OPERATIONS.get(value)
                if operation is not None:
                    draft.add("clinical", operation, source)
                return
            if doc[ent.end : ent.end + 1].text.lower() in _POSITIONING_WORDS:
                draft.set_aside.append(SetAside(source, "how the patient was positioned"))
                return
            if value == "spine_paraspinal" and _in_front_of(doc, ent.start):
                # "in front of C1-C2": before the spine (prevertebral), not in it; in front
                # of the cervical spine is the neck's prevertebral space
                draft.set_aside.append(SetAside(source, "in front of the spine, not in it"))
                if _CERVICAL.match(ent.text.lower()):
                    places.append((rank, source.start, "imaging.region", "neck", source))
                return
            if _compared(ent):
                draft.set_aside.append(SetAside(source, "the term of a comparison, not a place"))
                return
            if rank == _HISTORY_PLACE_RANK and not self._names_lesion(ent) and (
                    not _names_finding(_sent(ent), self._terms.labels)) and (
                    kind != "imaging.region" or not self._names_complaint(ent)):
                # "muscle cramps", "dilated superficial veins", "gout of both ankles": a
                # place named where neither the mineral, a study nor a lesion is
                draft.set_aside.append(SetAside(source, "not said of the lesion"))
                return
            if _level_of(ent):
                draft.set_aside.append(SetAside(source, "a level the finding lies at or "
                                                "reaches, not the structure it lies in"))
                return
            if kind == "imaging.region" and self._part_of_place(ent):
                return  # "the proximal phalanx of the great toe": the toe says the region
            if _other_side(ent):
                # "the other knee", "the contralateral hip": a comparison or another lesion
                draft.set_aside.append(SetAside(source, "the other side, not the lesion's"))
                return
            if kind != "imaging.region" and self._modifies_place(ent):
                # "the small-bowel mesentery": the mesentery, not the bowel
                draft.set_aside.append(SetAside(source, "names the structure that follows"))
                return
            if kind != "imaging.region" and _apart_from(ent):
                draft.set_aside.append(SetAside(source, "said to be apart from it"))
                return
            if _organ_state(ent):
                draft.set_aside.append(SetAside(
                    source, "a statement about that structure, not the lesion's place"))
                return
            if kind == "imaging.location" and value == "skin_dermis" and _skin_sign(ent):
                # "skin lesions", "thickened skin", "the skin over the swelling": the skin's
                # own state or what lies over the lesion, not the compartment holding it
                draft.set_aside.append(SetAside(source, "the skin's own sign, not the "
                                                "lesion's compartment"))
                return
            if kind != "imaging.region" and _beside(ent):
                draft.set_aside.append(
                    SetAside(source, "a neighbouring structure, not where the lesion is"))
                return
            if kind == "imaging.region" and _look_back(
                    doc, ent.start, _sent(ent).start, _BESIDE_REACH, _PUSHED_WORDS,
                    _BESIDE_BREAKS) is not None:
                # "pushed the kidney aside", "compressing the bladder": the neighbour's
                # region comes after the region the lesion is said to lie in
                rank += _NEIGHBOUR_RANK
            if rank == 0:
                # "papules over the backs of the hands and a calcinosis at the elbow": in a
                # sentence naming the mineral, the place nearest the mineral comes first
                rank += _FAR_STEP * (self._mineral_distance(ent) > _NEAR_MINERAL)
            places.append((rank, source.start, kind, value, source))
        elif kind == "clinical" and value == "palpable_mass" and not negated and (
            ent.text.lower() == "swelling" and _determiner_before(doc, ent.start, _sent(ent).start)
            is None
        ):
            # "a swelling" is a lump; "pain and swelling", "knee swelling" state no mass
            draft.set_aside.append(SetAside(source, "swelling not named as a lump"))
        elif kind == "clinical" and value == "local_inflammation" and not negated and (
                ent.text.lower() in {
                    "inflammation", "inflamed", "inflammatory"}) and _names_finding(
                    _sent(ent), self._terms.labels):
            # "MRI showed signs of active inflammation": an imaging finding, not the
            # redness and warmth of the skin
            draft.set_aside.append(SetAside(source, "inflammation seen on imaging, not the "
                                            "clinical sign"))
        elif kind == "clinical" and value == "surgery_local" and _operation_now(ent):
            # "at surgery the mass measured 2 cm", "suspected before surgery": the operation
            # that treated or diagnosed this lesion, not one in its history
            draft.set_aside.append(SetAside(source, "the operation on this lesion, not a past "
                                            "operation"))
        elif kind == "clinical":
            draft.add("clinical_absent" if negated else "clinical", value, source)
            if value in _NAMED_PAINS and not negated:
                # "long-standing abdominal pain", "three days of pain in the right iliac
                # fossa": a pain with its onset is also acute or chronic pain
                onset = _onset_before(ent, self._terms.labels) or _pain_duration(ent)
                if onset is None:
                    onset = _nearest(ent, self._terms.labels, "pain_time", _PAIN_TIME_REACH)
                if onset in {"acute", "chronic"}:
                    draft.add("clinical", f"{onset}_pain", source)
        elif kind in {"clinical_absent", "imaging.associated_absent"}:
            draft.add(kind, value, source)  # "afebrile", "atraumatic": absence in one word
        elif kind == "imaging.associated" and value == "tooth_like_component" and (
                doc[ent.start - 1 : ent.start].text.lower() in _DENTITION_WORDS):
            draft.set_aside.append(SetAside(source, "the patient's own teeth"))
        elif kind == "imaging.associated" and _not_of_the_lesion(ent, value, self._terms.labels):
            draft.set_aside.append(SetAside(source, f"not {value}: said of a rim, a wall, the "
                                            "surroundings or the lesion's own centre"))
        elif kind == "imaging.associated":
            draft.add("imaging.associated_absent" if negated else kind, value, source)
        elif kind == "imaging.matrix" and negated:
            # "no calcification or ossification in the joint": no mineral is stated
            draft.set_aside.append(SetAside(source, f"negated {value}"))
        elif kind == "imaging.matrix":
            matrices.append((value, source))
        elif kind == "imaging.pattern" and negated:
            draft.set_aside.append(SetAside(source, f"negated pattern {value}"))
        elif kind == "imaging.pattern" and not any(
            _states(other, self._terms.labels, _MATRIX_OR_MODALITY)
            for other in _ents_in(_sent(ent))
        ):
            # "red plaques over the knuckles", "a beak-like nose": not the mineral's shape
            draft.set_aside.append(SetAside(
                source, f"{value}: a shape named where neither the mineral nor a study is"))
        elif kind == "lab_state":
            lab, level = value.split("=")
            if negated:
                draft.set_aside.append(SetAside(source, f"negated {lab} {level}"))
            else:
                draft.add(f"labs.{lab}", level, source)
        elif kind in {"imaging.extent", "imaging.arrangement"}:
            noun = next((t.i for t in doc[ent.end : min(_sent(ent).end, ent.end + _COUNTED_REACH)]
                         if t.norm_ in self._lesion_nouns or t.lower_ in _PLURAL_WITHIN_ONE),
                        None)
            if (kind == "imaging.extent" and value != "solitary" and noun is not None
                    and _foci_of_one_lesion(doc, noun)):
                draft.set_aside.append(
                    SetAside(source, "foci within one lesion, not a count of lesions"))
            elif value == "bilateral_symmetric" and ent.text.lower() == "both" and not (
                    self._pairs_body_parts(ent)):
                # "both the central and the peripheral compartments": not both sides
                draft.set_aside.append(SetAside(source, "'both' not said of paired body parts"))
            elif self._near_lesion(ent):
                draft.add(kind, value, source)
            else:
                draft.set_aside.append(
                    SetAside(source, f"{value} not said of a lesion or of the mineral"))
        elif kind == "imaging.evolution" and any(
                t.lower_ in {"node", "nodes"} for t in doc[ent.end : ent.end + 4]):
            draft.set_aside.append(SetAside(source, "said of lymph nodes, not the lesion"))
        elif kind == "imaging.evolution" and _said_of_patient(ent):
            # "haemodynamically stable", "the pain resolved", "she remained stable": the
            # patient's course, not the lesion's
            draft.set_aside.append(SetAside(source, "said of the patient or a symptom, not "
                                            "the lesion"))
        elif kind == "imaging.evolution" and ent.text.lower() in {"enlarged", "enlargement"} and (
                not _growth_over_time(ent)):
            # "an enlarged prostate", "the gland was enlarged": bigger than normal, not
            # growing ("it had enlarged over two years" is growth)
            draft.set_aside.append(SetAside(source, "enlarged: a state, not a change"))
        elif kind == "imaging.evolution" and value == "growing" and doc[
                ent.end : ent.end + 1].text.lower() in _DIRECTION_AFTER_GROWTH:
            draft.set_aside.append(SetAside(source, "growing out of or into: where it extends, "
                                            "not a change over time"))
        elif kind.startswith("imaging."):
            draft.add(kind, value, source)

    def _mineral_distance(self, ent: Span) -> int:
        """Tokens between a place and the nearest mineral phrase of its sentence (capped)."""
        gaps = [max(other.start - ent.end, ent.start - other.end, 0)
                for other in _ents_in(_sent(ent))
                if other.start != ent.start and _states(other, self._terms.labels, _MATRIX_KIND)]
        return min([*gaps, _NEAREST_CAP])

    def _names_pain_site(self, ent: Span) -> bool:
        """Whether a place names where a pain is ("back pain", "knee pain")."""
        return any(other.start == ent.end
                   and any(f.kind == "pain" for f in self._terms.labels[other.label_])
                   for other in _ents_in(_sent(ent)))

    def _place_of_injury(self, ent: Span) -> bool:
        """Whether a body part places a neurological injury ("spinal cord injury at T3").

        The level of a cord or brain injury is history; the lesion it leads to (heterotopic
        ossification about a hip) lies elsewhere.
        """
        doc = ent.doc
        sent = _sent(ent)
        i = ent.start
        while i > sent.start and ent.start - i < _INJURY_LEVEL_REACH and (
                doc[i - 1].lower_ in _INJURY_LEVEL_WORDS):
            i -= 1
        if i == ent.start:
            return False
        return any(
            other.end == i
            and ("clinical", "neurological_injury") in self._terms.labels[other.label_]
            for other in _ents_in(sent)
        )

    def _names_study(self, ent: Span) -> bool:
        """Whether a body part names the study ("knee radiograph", "CT of the abdomen")."""
        doc = ent.doc
        labels = self._terms.labels
        sent = _sent(ent)
        modality = {i for e in _ents_in(sent) if _states(e, labels, _MODALITY_KIND)
                    for i in range(e.start, e.end)}
        place = {i for e in _ents_in(sent) if _states(e, labels, _PLACES)
                 for i in range(e.start, e.end)}

        def listed(i: int) -> bool:
            return doc[i].lower_ in _STUDY_LIST_WORDS or i in place

        if modality & set(range(ent.end, min(sent.end, ent.end + 2))):
            return True
        # "abdominal and pelvic radiographs": forward over the list to the modality
        i = ent.end
        while i < sent.end - 1 and listed(i):
            i += 1
        if i > ent.end and i in modality and i - 1 in place:
            return True
        # "radiographs of the foot and leg": back over the list to "of" after a modality
        i = ent.start - 1
        while i > sent.start and listed(i):
            i -= 1
        return doc[i].lower_ == "of" and bool(modality & set(range(max(sent.start, i - 2), i)))

    def _pairs_body_parts(self, ent: Span) -> bool:
        """Whether "both" is followed by body parts or sides ("both hips", "both sides")."""
        doc = ent.doc
        i = ent.end + (1 if doc[ent.end : ent.end + 1].text.lower() == "the" else 0)
        if i >= _sent(ent).end:
            return False
        if doc[i].lower_ in {"sides", "side", "limbs", "extremities"}:
            return True
        return any(other.start <= i < other.end and _states(other, self._terms.labels, _PLACES)
                   for other in _ents_in(_sent(ent)))

    def _near_lesion(self, ent: Span) -> bool:
        """Whether a lesion noun or a mineral word lies within a few tokens of `ent`."""
        doc = ent.doc
        sent = _sent(ent)
        lo = max(sent.start, ent.start - _EXTENT_WINDOW)
        hi = min(sent.end, ent.end + _EXTENT_WINDOW)
        nouns = self._lesion_nouns
        if any(doc[i].norm_ in nouns for i in range(lo, hi) if not ent.start <= i < ent.end):
            return True
        return any(
            _states(other, self._terms.labels, _MINERAL_KINDS)
            for other in _ents_in(sent)
            if other.start < hi and other.end > lo and other.start != ent.start
        )

    def _names_lesion(self, ent: Span) -> bool:
        """Whether the entity's sentence names a lesion ("a lump", "nodules", "a mass")."""
        return any(t.norm_ in self._lesion_nouns or t.lower_ in _CLINICAL_LESION_NOUNS
                   for t in _sent(ent))

    def _names_complaint(self, ent: Span) -> bool:
        """Whether the entity's sentence states a pain, a lump or a swelling.

        Where it hurts or is felt is where the lesion is.
        """
        return any(
            f.kind == "pain" or (f.kind == "clinical" and f.value in _COMPLAINTS)
            for other in _ents_in(_sent(ent)) for f in self._terms.labels[other.label_]
        )

    def _modifies_place(self, ent: Span) -> bool:
        """Whether a place word premodifies a following place word with a location.

        "small-bowel mesentery", "kidney capsule": the second names where the lesion is.
        """
        labels = self._terms.labels
        return any(
            other.start == ent.end
            and any(f.kind == "imaging.location" for f in labels[other.label_])
            and not any(f.kind == "imaging.location" and f.value == "organ"
                        for f in labels[other.label_])
            for other in _ents_in(_sent(ent))
        )

    def _part_of_place(self, ent: Span) -> bool:
        """Whether a region word is followed by "of (the) <another region>"."""
        doc = ent.doc
        sent = _sent(ent)
        i = ent.end
        if i < sent.end and doc[i].lower_ in {"joint", "joints", "bone", "bones"}:
            i += 1  # "the interphalangeal joint of the great toe"
        if i >= sent.end or doc[i].lower_ != "of":
            return False
        i += 1
        while i < sent.end and doc[i].lower_ in {"the", "a", "an", "left", "right", "both"}:
            i += 1
        own = {f.value for f in self._terms.labels[ent.label_] if f.kind == "imaging.region"}
        return any(
            other.start == i and any(f.kind == "imaging.region" and f.value not in own
                                     for f in self._terms.labels[other.label_])
            for other in _ents_in(sent)
        )

    def _read_singular(self, doc: Doc, imaging: list[Span], draft: _Draft) -> None:
        """Extent solitary from a lesion named in the singular, when nothing else says it.

        `imaging`: the sentences that describe the imaging.
        """
        if draft.has("imaging.extent") is not None:
            return
        history = [sent for sent in doc.sents if sent not in imaging]
        found: list[Span | None] = [None, None]  # the first in the imaging, in the history
        plural = False  # whether the imaging names foci in the plural ("calcifications")
        for which, sents in enumerate((imaging, history)):
            for sent in sents:
                for token in sent:
                    if token.norm_ not in self._lesion_nouns:
                        continue
                    if _is_plural(token.lower_):
                        plural = plural or which == 0
                        if not _counts_lesions(doc, token, sent) or (
                                token.norm_ in self._matrix_words):
                            # "gallbladder stones", "coarse calcifications": the mineral's
                            # own words count no lesions
                            continue
                        return
                    start = _determiner_before(doc, token.i, sent.start)
                    if found[which] is None and start is not None and not any(
                            t.lower_ in _UNCERTAIN_WORDS for t in doc[start : token.i]):
                        found[which] = doc[start : token.i + 1]
        # the lesion the study describes, else the one the history names ("had a lesion
        # in the thigh"; radiographs showed mature bone), unless the study names foci in
        # the plural ("a palpable mass"; calcifications around the finger joints)
        singular = found[0] or (None if plural else found[1])
        if singular is not None:
            draft.add("imaging.extent", "solitary", _phrase(singular))


    def _read_mass(self, doc: Doc, imaging: list[Span], draft: _Draft) -> None:
        """A mass named where the imaging is described (`imaging`) is a soft-tissue mass."""
        if any(v.field.endswith("associated") and v.value == "soft_tissue_mass"
               for v in draft.values):
            return
        for sent in imaging:
            for token in sent:
                if token.lower_ in _MASS_NOUNS and not any(
                    e.start <= token.i < e.end
                    or (_states(e, self._terms.labels, _MATRIX_KIND)
                        and _mass_is_the_mineral(doc, e, token.i))
                    for e in _ents_in(sent)
                ):
                    before = doc[max(sent.start, token.i - 3) : token.i]
                    if any(t.lower_ in _NEGATORS for t in before):
                        continue
                    draft.add("imaging.associated", "soft_tissue_mass",
                              _phrase(doc[token.i : token.i + 1]))
                    draft.covered.append((token.i, token.i + 1))
                    return

    def _read_within_mass(self, doc: Doc, draft: _Draft) -> None:
        """Location within_mass when the mineral is said of a mass and no place is read."""
        if draft.has("imaging.location") is not None:
            return
        for sent in doc.sents:
            mineral = [
                ent for ent in _ents_in(sent) if _states(ent, self._terms.labels, _MATRIX_KIND)
            ]
            masses = [t for t in sent if t.lower_ in _MASS_NOUNS | _TUMOUR_NOUNS]
            for ent in mineral:
                for mass in masses:
                    if _mass_is_the_mineral(doc, ent, mass.i):
                        continue
                    gap = doc[min(ent.end, mass.i + 1) : max(ent.start, mass.i)]
                    if any(t.text in ".;" for t in gap):
                        continue
                    if any(t.lower_ in {",", "or", "nor"} for t in gap) and not any(
                            t.lower_ in _HOLDING_WORDS for t in gap):
                        continue  # "no mass, suspicious calcification or distortion": a list
                    if any(t.lower_ in _NEGATORS
                           for t in doc[max(sent.start, mass.i - 3) : mass.i]):
                        continue  # "no mass": no mass holds it
                    if len(gap) <= _WITHIN_MASS_GAP or _holds(doc, mass.i, ent):
                        start, end = min(ent.start, mass.i), max(ent.end, mass.i + 1)
                        draft.add("imaging.location", "within_mass", _phrase(doc[start:end]))
                        return

    def _read_phrasings(self, doc: Doc, draft: _Draft) -> None:
        """Associated findings stated by a construction (`_PHRASINGS`).

        "no", "without" or "not" before or inside the construction negates it.
        """
        matches = self._phrasings(doc, as_spans=True)
        for span in filter_spans(matches):
            value = span.label_
            if any(v.field.startswith("imaging.associated") and v.value == value
                   for v in draft.values):
                continue
            before = {t.lower_ for t in doc[max(_sent(span).start, span.start - 3) : span.start]}
            negated = bool((before | {t.lower_ for t in span}) & _NEGATORS)
            draft.add("imaging.associated_absent" if negated else "imaging.associated", value,
                      _phrase(span))
            draft.covered.append((span.start, span.end))

    def _read_levels(self, doc: Doc, draft: _Draft) -> None:
        """Extent multiple from mineral over three or more vertebral levels.

        "ossification behind the vertebral bodies from C2 to C6"; only when no extent
        is stated.
        """
        if draft.has("imaging.extent") is not None:
            return
        for ent in doc.ents:
            if not _states(ent, self._terms.labels, _MATRIX_KIND):
                continue
            sent = _sent(ent)
            reach = doc[ent.end : min(sent.end, ent.end + _LEVEL_REACH)]
            match = _LEVEL_RANGE.search(reach.text)
            if match is None:
                continue
            first, last = match.group(1).lower(), match.group(3).lower()
            span = abs(int(match.group(4)) - int(match.group(2)))
            if first == last and span >= _MULTILEVEL_SPAN:
                start = reach.start_char + match.start()
                draft.add("imaging.extent", "multiple_regional",
                          _char_phrase(doc.text, start, reach.start_char + match.end()))
                return

    def _read_counts(self, doc: Doc, draft: _Draft) -> None:
        """Extent from a count of lesions ("two calcified nodules"), unless already stated."""
        for match_id, start, end in self._counts(doc):
            draft.covered += [(start, start + 1), (end - 1, end)]
            if any(ent._.family for ent in doc[start:end].ents):
                continue
            extent = self._nlp.vocab.strings[match_id]
            # "multiple foci of dense calcification": the count is of the foci, wherever
            # the match ends
            if any(_foci_of_one_lesion(doc, i) for i in range(start + 1, end)):
                draft.set_aside.append(SetAside(
                    _phrase(doc[start:end]), "foci within one lesion, not a count of lesions"))
                continue
            draft.add("imaging.extent", extent, _phrase(doc[start:end]))

    def _not_understood(self, doc: Doc, draft: _Draft) -> Iterator[Phrase]:
        covered = [False] * len(doc)
        for start, end in draft.covered:
            for i in range(start, end):
                covered[i] = True
        run: list[int] = []
        for token in doc:
            unknown = (
                not covered[token.i]
                and token.is_alpha
                and len(token.text) > 2
                and not token.is_stop
                and token.norm_ not in self.lexicon.filler
            )
            if unknown:
                run.append(token.i)
                continue
            if run and not (token.text == "-" and not covered[token.i]):
                yield _phrase(doc[run[0] : run[-1] + 1])
                run = []
        if run:
            yield _phrase(doc[run[0] : run[-1] + 1])


def _read_sites(doc: Doc, draft: _Draft, lesion_nouns: frozenset[str]) -> None:
    """Extent widespread when the mineral is placed in three or more body regions.

    "masses around the right hip and the right shoulder, with further deposits in the
    right forearm": spread over regions, where few_regional and multiple_regional count
    lesions within one region (case format); only when no extent is stated, and only
    from the places the mineral's own sentences name (not the names of the studies).
    """
    if draft.has("imaging.extent") is not None:
        return
    regions: dict[str, Phrase] = {}
    for value, source in draft.sites:
        regions.setdefault(value, source)
    if len(regions) >= _MULTIPLE_SITES:
        first, *_, last = sorted(regions.values(), key=lambda p: p.start)
        # one focus described from several sides ("a focus beside the humerus ... at the
        # insertion of pectoralis major, next to the biceps") is not spread: the lesions
        # must be named in the plural
        span = doc.char_span(first.start, last.end, alignment_mode="expand")
        words = doc[_sent(span).start : _sent(doc[span.end - 1 : span.end]).end] if span else ()
        if not any(t.norm_ in lesion_nouns and _is_plural(t.lower_) for t in words):
            return
        draft.add("imaging.extent", "widespread",
                  _char_phrase(doc.text, first.start, last.end))


def _drop_stray_organ(draft: _Draft) -> None:
    """An organ is said only with location organ.

    "Implants on the peritoneal surfaces, around the liver": the liver is not the
    lesion's organ.
    """
    location, organ = draft.has("imaging.location"), draft.has("imaging.organ")
    if organ is None or location is None or location.value == "organ":
        return
    draft.values.remove(organ)
    draft.set_aside.append(SetAside(organ.source, f"an organ, but the lesion lies in "
                                    f"{location.value} ({location.source.words!r})"))


def _drop_incidental_with_symptoms(draft: _Draft) -> None:
    """A finding come upon by chance in a patient with symptoms: not asymptomatic.

    "CT for dizziness and numbness showed, incidentally, a calcified nodule": the
    finding was incidental, the patient was not without symptoms.
    """
    found = [v for v in draft.values if v.field == "clinical" and v.value == "asymptomatic"
             and v.source.words.lower().startswith(("incidental", "found incidental",
                                                    "by chance"))]
    if not found or not any(v.field == "clinical" and v.value in _SYMPTOMS
                            for v in draft.values):
        return
    for v in found:
        draft.values.remove(v)
        draft.set_aside.append(SetAside(v.source, "found by chance, but symptoms are stated"))


#: Clinical values that say where the patient hurts or what is felt there.
_COMPLAINTS: Final = frozenset(
    {"acute_pain", "chronic_pain", "palpable_mass", "local_inflammation", "abdominal_pain",
     "renal_colic", "meal_time_swelling", "neuropathy"}
)
#: Clinical values that are symptoms or signs, or a fresh injury the patient came with
#: (a patient with one is not asymptomatic).
_SYMPTOMS: Final = frozenset(
    {"acute_pain", "chronic_pain", "palpable_mass", "fever", "local_inflammation",
     "dysphagia_odynophagia", "renal_colic", "abdominal_pain", "neuropathy",
     "meal_time_swelling", "recurrent_tonsillitis", "raised_inflammatory_markers",
     "trauma_recent"}
)


def _no_recent_injury_when_acute(draft: _Draft) -> None:
    """In an acute presentation, "no trauma" denies a recent injury only.

    "Sudden shoulder pain over two days, with no injury": the injury asked about is one
    that could have caused it, not one years before.
    """
    if not any(v.field == "clinical" and v.value == "acute_pain" for v in draft.values):
        return
    recent = {v.source for v in draft.values
              if v.field == "clinical_absent" and v.value == "trauma_recent"}
    for v in [v for v in draft.values if v.field == "clinical_absent"
              and v.value == "trauma_remote" and v.source in recent]:
        draft.values.remove(v)
        draft.set_aside.append(SetAside(v.source, "an acute presentation: no recent injury, "
                                        "an injury long ago is not asked about"))


#: How far (words) a lump noun may stand from a word describing it ("a hard, painless,
#: immobile mass"; "it was firm, mobile and painless" after "a lump").
_DESCRIBED_REACH: Final = 6


def _describes_lesion(ent: Span) -> bool:
    """Whether a describing word is said of a lump, mass, swelling or nodule near it."""
    doc = ent.doc
    sent = _sent(ent)
    near = doc[max(sent.start, ent.start - _DESCRIBED_REACH) : min(sent.end,
                                                                   ent.end + _DESCRIBED_REACH)]
    if any(t.lower_ in _CLINICAL_LESION_NOUNS for t in near):
        return True
    # "on palpation it was hard, mobile and painless": one of the lump's felt qualities
    return any(t.lower_ in _PALPATION_WORDS for t in near if t.i != ent.start)


#: What an examiner feels of a lump; "painless" listed among them is said of the lump.
_PALPATION_WORDS: Final = frozenset(
    {"hard", "firm", "rubbery", "mobile", "fixed", "immobile", "fluctuant", "non-tender",
     "nontender", "tender", "compressible", "pulsatile", "stony", "rock-hard", "tethered"}
)


def _untimed_injury_follows_timed(draft: _Draft) -> None:
    """An injury told without a time takes the time told of an injury elsewhere.

    "blunt abdominal trauma followed by several operations ... CT ten months after the
    injury": one injury, remote; the first mention is not a second, recent one.
    """
    untimed = {(p.start, p.end) for p in draft.untimed_injuries}
    timed = {v.value for v in draft.values if v.field == "clinical"
             and v.value in {"trauma_recent", "trauma_remote"}
             and (v.source.start, v.source.end) not in untimed}
    if timed != {"trauma_remote"}:
        return
    for v in [v for v in draft.values if v.field == "clinical" and v.value == "trauma_recent"
              and (v.source.start, v.source.end) in untimed]:
        draft.values.remove(v)
        draft.set_aside.append(SetAside(v.source, "an injury without a time, told as remote "
                                        "elsewhere in the text"))


def _drop_absent_pain(draft: _Draft) -> None:
    """With a pain stated, no pain onset is read as absent.

    "Sudden severe pain ... a painless range of movement": "painless" is said of
    something else.
    """
    if not any(v.field == "clinical" and v.value in _PAIN_VALUES for v in draft.values):
        return
    for v in [v for v in draft.values
              if v.field == "clinical_absent" and v.value in _PAIN_VALUES]:
        draft.values.remove(v)
        draft.set_aside.append(SetAside(v.source, "pain absent here, but a pain is stated"))


_PAIN_VALUES: Final = frozenset({"acute_pain", "chronic_pain"})


def _check_text(text: str) -> None:
    if not text or not text.strip():
        raise TextError("the text is empty; describe the finding, " + _EXAMPLE)
    if len(text) > MAX_CHARS:
        raise TextError(
            f"the text is {len(text):,} characters long; give one description of at most "
            f"{MAX_CHARS:,} characters (one line per description with --json)"
        )


def _token_range(doc: Doc, start: int, end: int) -> tuple[int, int] | None:
    span = doc.char_span(start, end, alignment_mode="expand")
    return (span.start, span.end) if span is not None else None


def _read_age(doc: Doc, draft: _Draft) -> None:
    for match in _AGE.finditer(doc.text):
        number = match.group(1) or match.group(3) or match.group(4)
        unit = (match.group(2) or "year").lower()
        years = float(number.replace(",", ".")) * _AGE_UNIT_YEARS[unit]
        source = _char_phrase(doc.text, match.start(), match.end())
        if not 0 <= years <= 120:
            draft.set_aside.append(SetAside(source, "an age outside 0 to 120 years"))
            continue
        draft.add("patient.age_years", round(years, 2), source)
        covered = _token_range(doc, match.start(), match.end())
        if covered:
            draft.covered.append(covered)


def _not_a_size(text: str, start: int, end: int) -> str | None:
    """Why a length in the text is not the lesion's size (None when it may be)."""
    after = text[end : end + 30]
    if _DISTANCE_AFTER.match(after) or _MOVED_BEFORE.search(text[max(0, start - 40) : start]):
        return "a distance, not the lesion's size"
    if _RATE_AFTER.match(after):
        return "a rate or a pressure, not a size"
    if _NOT_LESION_AFTER.match(after):
        return "the size of an ulcer, wound or scar, not of the lesion"
    return None


def _read_size(doc: Doc, draft: _Draft) -> None:
    best: tuple[float, Phrase] | None = None
    for match in _SIZE.finditer(doc.text):
        covered = _token_range(doc, match.start(), match.end())
        if covered:
            draft.covered.append(covered)
        source = _char_phrase(doc.text, match.start(), match.end())
        reason = _not_a_size(doc.text, match.start(), match.end())
        if reason is not None:
            draft.set_aside.append(SetAside(source, reason))
            continue
        numbers = [match.group(1), match.group(2) or "0", *_DIMENSION.findall(match.group(3))]
        factor = 10.0 if match.group(4).lower().startswith("c") else 1.0
        size_mm = max(float(n.replace(",", ".")) for n in numbers) * factor
        if not 0 < size_mm <= 2000:
            draft.set_aside.append(SetAside(source, "a size outside 0 to 2000 mm"))
            continue
        if best is None or size_mm > best[0]:
            best = (size_mm, source)
    if best is not None:
        draft.add("imaging.size_mm", round(best[0], 1), best[1])


_DURATION = re.compile(
    r"\b(\d+(?:[.,]\d+)?|an?|one|two|three|four|five|six|seven|eight|nine|ten|eleven|"
    r"twelve|several|a few|few|many)\s+(hour|day|week|month|year)s?\b(?!\s*-?\s*old)",
    re.IGNORECASE,
)
_COUNT_WORDS: Final = {
    "a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
    "seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12,
    "several": 3, "a few": 3, "few": 3, "many": 5,
}
_UNIT_DAYS: Final = {"hour": 1 / 24, "day": 1, "week": 7, "month": 30.4, "year": 365}

#: Pain durations (days): acute under 4 weeks (the duration classes of the American
#: College of Physicians guideline: acute < 4 weeks, subacute 4 to 12 weeks; Qaseem et
#: al., Ann Intern Med 2017;166:514-530), chronic beyond 3 months (the IASP definition of
#: chronic pain: pain that persists or recurs for longer than 3 months, Treede et al.,
#: Pain 2019;160:19-27); in between, subacute (neither value).
_ACUTE_MAX_DAYS: Final = 28
_CHRONIC_MIN_DAYS: Final = 91


def _pain_duration(ent: Span) -> str | None:
    """The onset (acute, subacute or chronic) from the stated duration nearest the pain."""
    return _by_duration(ent, _ACUTE_MAX_DAYS, _CHRONIC_MIN_DAYS, ("acute", "subacute", "chronic"))


def _onset_before(ent: Span, labels: dict[str, tuple[Fact, ...]]) -> str | None:
    """An onset word in the pain's own phrase ("long-standing left shoulder pain")."""
    for other in _ents_in(_sent(ent)):
        if ent.start - _ONSET_REACH <= other.end <= ent.start:
            for fact in labels[other.label_]:
                if fact.kind == "pain_time":
                    return fact.value
    return None


#: How close before a pain word (tokens) an onset word is read as its own.
_ONSET_REACH: Final = 3


def _by_duration(
    ent: Span,
    short_below: float,
    long_from: float,
    names: tuple[str, str | None, str],
    reach: int = 60,
) -> str | None:
    """Short, between or long (`names`) from the stated duration nearest the entity."""
    days = _nearest_duration(ent, reach)
    if days is None:
        return None
    if days < short_below:
        return names[0]
    return names[2] if days >= long_from else names[1]


def _nearest_duration(ent: Span, reach: int = 60) -> float | None:
    """The stated duration (days) nearest the entity, within `reach` characters."""
    sent = _sent(ent)
    text = sent.text
    centre = ent.start_char - sent.start_char
    best: tuple[int, float] | None = None
    for match in _DURATION.finditer(text):
        if text[max(0, match.start() - 1) : match.start()] == "-":
            continue
        number = match.group(1).lower()
        word_count = _COUNT_WORDS.get(number)
        count = float(number.replace(",", ".")) if word_count is None else float(word_count)
        days = count * _UNIT_DAYS[match.group(2).lower()]
        distance = min(abs(match.start() - centre), abs(match.end() - centre))
        if best is None or distance < best[0]:
            best = (distance, days)
    if best is None or best[0] > reach:
        return None
    return best[1]


#: An injury up to 3 months ago is recent, longer ago remote (the lexicon's time words
#: draw the same line: "three months" recent, "years ago" remote).
_RECENT_BELOW_DAYS: Final = 93
#: How close (characters) a duration must be to the injury word to be its time.
_TRAUMA_DURATION_REACH: Final = 30


def _the_fracture_told_not_injury(ent: Span) -> bool:
    """Whether "the fracture" goes back to one said pathological before.

    "a pathological fracture of the toe ... a lytic lesion at the fracture".
    """
    doc = ent.doc
    if not ent.root.lower_.startswith("fracture") or doc[ent.start - 1 : ent.start].text.lower(
            ) not in {"the", "this", "that"}:
        return False
    return any(doc[i].lower_ in _NOT_INJURY_BEFORE and doc[i + 1].lower_.startswith("fracture")
               for i in range(ent.start - 1))


def _trauma_time(ent: Span, reach: int = 60) -> str | None:
    """Recent or remote from a stated time nearest the injury ("several years before")."""
    return _by_duration(ent, _RECENT_BELOW_DAYS, _RECENT_BELOW_DAYS, ("recent", None, "remote"),
                        reach)


def _part_of_age(span: Span) -> bool:
    """Whether the span is the unit of an age ("70-year-old", "aged 5 years")."""
    doc = span.doc
    after = [t.lower_ for t in doc[span.end : span.end + 2]]
    return "old" in after or (span.start > 0 and doc[span.start - 1].like_num
                              and "of" in after)


#: How far (tokens) an onset word ("sudden", "for years") may lie from the pain it times:
#: "diabetes for years and sudden knee pain" times the pain by "sudden", not "years".
_PAIN_TIME_REACH: Final = 8


#: Nouns after "remote" that make it a place ("a remote rural area"), not a time.
_REMOTE_PLACES: Final = frozenset(
    {"rural", "area", "areas", "region", "regions", "village", "villages", "island",
     "islands", "part", "parts", "community", "communities", "town", "location", "district"}
)


def _a_place_word(span: Span) -> bool:
    """Whether a time word is used of a place ("from a remote rural area")."""
    doc = span.doc
    return span.text.lower() == "remote" and doc[span.end : span.end + 1].text.lower() in (
        _REMOTE_PLACES)


def _nearest(
    ent: Span, labels: dict[str, tuple[Fact, ...]], kind: str, reach: int | None = None
) -> str | None:
    """The value of the nearest `kind` phrase in the entity's sentence (None if none).

    `reach`: the farthest it may lie (tokens between the two phrases); None: anywhere
    in the sentence.
    """
    found = [
        (abs(other.start - ent.start), fact.value)
        for other in _ents_in(_sent(ent))
        if other.start != ent.start and not _part_of_age(other) and not _a_place_word(other)
        and (reach is None or max(other.start - ent.end, ent.start - other.end) <= reach)
        for fact in labels[other.label_]
        if fact.kind == kind
    ]
    return min(found)[1] if found else None


#: Fact kinds that name the mineral itself, and those that describe the imaging.
_MINERAL_KINDS: Final = frozenset({"imaging.matrix", "imaging.pattern"})
_IMAGING_KINDS: Final = _MINERAL_KINDS | {"imaging.modality"}
_MATRIX_KIND: Final = frozenset({"imaging.matrix"})
_MODALITY_KIND: Final = frozenset({"imaging.modality"})
_MATRIX_OR_MODALITY: Final = _MATRIX_KIND | _MODALITY_KIND


def _states(ent: Span, labels: dict[str, tuple[Fact, ...]], kinds: frozenset[str]) -> bool:
    """Whether the entity states a fact of one of `kinds`."""
    return any(fact.kind in kinds for fact in labels[ent.label_])


def _in_finding_sentence(ent: Span, labels: dict[str, tuple[Fact, ...]]) -> bool:
    """Whether the entity's sentence names the mineral itself (matrix or pattern).

    A clause after a semicolon that goes on about the same lesion by a pronoun ("a
    cystic mass in the retroperitoneum; it held a few calcifications") names the
    mineral of the clause before it.
    """
    sent = _sent(ent)
    if _names_mineral(sent, labels):
        return True
    doc = ent.doc
    if sent.end < len(doc) and doc[sent.end - 1].text == ";":
        following = _sent(doc[sent.end : sent.end + 1])
        if following[0].lower_ in _CONTINUING_PRONOUNS and _names_mineral(following, labels):
            return True
    if sent.start > 0 and doc[sent.start - 1].text == ";":
        # "a calcified mass displacing the kidney; CT placed it in the retroperitoneum"
        before = _sent(doc[sent.start - 1 : sent.start])
        return any(t.lower_ in _CONTINUING_PRONOUNS for t in sent) and _names_mineral(
            before, labels)
    return False


def _names_mineral(sent: Span, labels: dict[str, tuple[Fact, ...]]) -> bool:
    """Whether a sentence names the mineral: a matrix word, or a shape beside a study.

    A shape alone ("chalky white material", "red plaques") names the mineral only where a
    matrix word or a study is named too, as `_apply` reads patterns.
    """
    ents = _ents_in(sent)
    if any(_states(other, labels, _MATRIX_KIND) for other in ents):
        return True
    return any(_states(other, labels, _MINERAL_KINDS) for other in ents) and any(
        _states(other, labels, _MODALITY_KIND) for other in ents)


#: Pronouns that go on about the lesion of the clause before a semicolon.
_CONTINUING_PRONOUNS: Final = frozenset({"it", "they", "this", "these", "them"})


#: Words that put enhancement in a rim, a wall or the surroundings ("peripheral rim
#: enhancement", "enhancement of the adjacent soft tissue"): no enhancing solid part.
_RIM_WORDS: Final = frozenset(
    {"rim", "peripheral", "peripherally", "wall", "septal", "septa", "capsular", "capsule",
     "surrounding", "adjacent", "perilesional", "marginal", "ring"}
)
#: Words around "fat" that make it the surrounding fat ("the fat around it", "fat pad").
_OWN_FAT_BEFORE: Final = frozenset(
    {"the", "surrounding", "adjacent", "subcutaneous", "overlying", "periappendiceal",
     "pericolic", "perirenal", "mesenteric", "epidural", "neighbouring", "neighboring"}
)
_OWN_FAT_AFTER: Final = frozenset(
    {"pad", "pads", "plane", "planes", "stranding", "around", "surrounding", "layer"}
)
#: Words that say necrosis is the skin's ("skin necrosis", "necrotic ulcer").
_SKIN_WORDS: Final = frozenset({"skin", "cutaneous", "ulcer", "ulcers", "ulcerated", "eschar"})


def _not_of_the_lesion(ent: Span, value: str, labels: dict[str, tuple[Fact, ...]]) -> bool:
    """Whether enhancement or necrosis words state no finding of that name.

    Rim, wall or surrounding enhancement is no enhancing solid component; necrosis
    named in a sentence on the imaging, away from any word of skin, is the lesion's
    own (a necrotic centre), not skin necrosis.
    """
    doc = ent.doc
    if value == "enhancing_solid_component":
        near = doc[max(_sent(ent).start, ent.start - 3) : min(_sent(ent).end, ent.end + 4)]
        return any(t.lower_ in _RIM_WORDS for t in near)
    if value == "fat_in_lesion" and ent.text.lower() in {"fat", "fatty"}:
        # "the fat around it was echogenic", "pushing the fat pad forward": the
        # surrounding fat, not fat inside the lesion
        before = doc[ent.start - 1 : ent.start].text.lower()
        after = doc[ent.end : ent.end + 1].text.lower()
        return before in _OWN_FAT_BEFORE or after in _OWN_FAT_AFTER
    if value == "bone_erosion" and ent.text.lower() in {"erosion", "erosions", "erosive"}:
        # "erosions and ulcers of the skin": the skin's, not the bone's
        near = doc[max(_sent(ent).start, ent.start - 4) : min(_sent(ent).end, ent.end + 5)]
        return any(t.lower_ in _SKIN_WORDS | {"mucosa", "mucosal"} for t in near)
    if value == "skin_necrosis" and ent.text.lower() in {"necrosis", "necrotic"}:
        return _names_finding(_sent(ent), labels) and not any(
            t.lower_ in _SKIN_WORDS for t in _sent(ent))
    return False


def _direction_of(doc: Doc, end: int) -> bool:
    """Whether a direction noun ending at `end` is followed by "of".

    "head of the pancreas", or "and" another direction noun and "of" ("head and neck of").
    """
    after = [t.lower_ for t in doc[end : end + 3]]
    return after[:1] == ["of"] or (
        after[:1] == ["and"] and len(after) == 3 and after[1] in _DIRECTION_NOUNS
        and after[2] == "of")


_LEVEL: Final = re.compile(r"^[ctls]\d{1,2}$")
#: A range of vertebral levels ("from C2 to C6", "T6-T9"); spanning three levels or
#: more (C2 to C4 and beyond) it is multilevel, i.e. multiple; looked for this many
#: tokens after a mineral word.
_LEVEL_RANGE: Final = re.compile(
    r"\b([CTLS])(\d{1,2})(?:/\d{1,2})?\s*(?:-|–|to|through)\s*([CTLS])(\d{1,2})\b",
    re.IGNORECASE,
)
_MULTILEVEL_SPAN: Final = 2
_LEVEL_REACH: Final = 12


def _in_front_of(doc: Doc, start: int) -> bool:
    """Whether "in front of", "anterior to" or "the anterior arch of" comes before `start`.

    Read back over "the" and a list of vertebral levels ("in front of the C1 and C2").
    """
    i = start - 1
    while i > 0 and (doc[i].lower_ in {"the", "and", ",", "-"} or _LEVEL.match(doc[i].lower_)):
        i -= 1
    if [t.lower_ for t in doc[max(0, i - 2) : i + 1]] == ["anterior", "arch", "of"]:
        return True  # "below the anterior arch of C1": the front of the atlas, prevertebral
    return [t.lower_ for t in doc[max(0, i - 1) : i + 1]] in (["front", "of"], ["anterior", "to"])


def _said_removed(ent: Span) -> bool:
    """Whether a body part is said to have been taken out.

    "his gallbladder had been removed", "had her gallbladder removed", "removal of the
    gallbladder", "resection of the spleen".
    """
    doc = ent.doc
    sent = _sent(ent)
    for i in range(ent.end, min(sent.end, ent.end + 4)):
        word = doc[i].lower_
        if word in _REMOVAL_WORDS:
            return word != "taken" or doc[i + 1 : i + 2].text.lower() == "out"
        if word not in _REMOVAL_GAP:
            break
    before = [t.lower_ for t in doc[max(sent.start, ent.start - 3) : ent.start]]
    return len(before) >= 2 and before[-1] in {"the", "of"} and any(
        w in {"removal", "resection", "excision"} for w in before[-3:])


def _sequence_name(ent: Span) -> bool:
    """Whether "T1"/"T2" names an MRI sequence: its sentence speaks of MRI signal."""
    if ent.text.lower() not in _SEQUENCE_NAMES:
        return False
    return any(t.lower_ in _SEQUENCE_WORDS for t in _sent(ent))


def _said_of_something_else(ent: Span, value: str) -> bool:
    """Whether a symptom word is said of a thing other than the lesion or its skin.

    "palpable pulses", "no palpable neck nodes": palpable, but not a mass; "red
    marrow", "red cells", "a hot spot on the bone scan": not an inflamed site.
    """
    doc = ent.doc
    after = [t.lower_ for t in doc[ent.end : min(_sent(ent).end, ent.end + 3)]]
    word = ent.text.lower()
    if value == "palpable_mass" and word.startswith("palpa"):
        return bool(set(after) & _NOT_A_MASS_AFTER)
    if value == "local_inflammation" and word in {"red", "hot", "warm"}:
        return bool(after) and after[0] in _NOT_INFLAMED_AFTER
    return False


#: Determiners before "enlarged" that make it an adjective ("an enlarged spleen").
_ARTICLES: Final = frozenset({"a", "an", "the", "his", "her", "their", "its"})
#: Words before a course word that make it the patient's ("haemodynamically stable").
_PATIENT_STATE_BEFORE: Final = frozenset(
    {"haemodynamically", "hemodynamically", "clinically", "medically", "neurologically"})
#: The patient as the subject of a course word ("she remained stable").
_PATIENT_SUBJECTS: Final = frozenset(
    {"she", "he", "patient", "child", "boy", "girl", "man", "woman", "condition"})
_COPULAS: Final = frozenset(
    {"was", "is", "were", "remained", "remains", "became", "stayed", "had", "has", "been"})
#: Symptoms whose course is not the lesion's ("the pain resolved").
_SYMPTOM_SUBJECTS: Final = frozenset(
    {"pain", "pains", "symptom", "symptoms", "fever", "tenderness", "discomfort", "headache",
     "headaches", "stiffness", "complaint", "complaints", "redness", "erythema", "cough",
     "dysphagia", "weakness", "numbness", "limp", "tingling"})
#: How far back (tokens) a symptom is looked for as the subject of a course word.
_SUBJECT_REACH: Final = 4


def _said_of_patient(ent: Span) -> bool:
    """Whether a course word ("stable", "resolved") is said of the patient or a symptom.

    "haemodynamically stable", "she remained stable", "the pain resolved", "her symptoms
    improved and resolved": the clinical course, not the lesion's evolution.
    """
    doc = ent.doc
    sent = _sent(ent)
    if doc[ent.start - 1 : ent.start].text.lower() in _PATIENT_STATE_BEFORE:
        return True
    j = ent.start - 1
    while j > sent.start and doc[j].lower_ in _COPULAS:
        j -= 1
    if j < ent.start - 1 and doc[j].lower_ in _PATIENT_SUBJECTS:
        return True
    i = ent.start - 1
    while i >= sent.start and ent.start - i <= _SUBJECT_REACH:
        word = doc[i].lower_
        if word in _SYMPTOM_SUBJECTS:
            return True
        if not doc[i].is_alpha or word in {"and", "but", "while", "which", "that"} or any(
                other.start <= i < other.end for other in _ents_in(sent)):
            return False  # a clause or another matched phrase comes between
        i -= 1
    return False


def _growth_over_time(ent: Span) -> bool:
    """Whether "enlarged" / "enlargement" tells a growth over time, not a size.

    "had enlarged", "slowly enlarged", "progressive enlargement", "enlarged over two
    years", "enlargement since the last study".
    """
    doc = ent.doc
    sent = _sent(ent)
    if doc[ent.start - 1 : ent.start].text.lower() in _ARTICLES:
        return False  # "an enlarged spleen": an adjective, a size
    before = {t.lower_ for t in doc[max(sent.start, ent.start - 2) : ent.start]}
    after = {t.lower_ for t in doc[ent.end : min(sent.end, ent.end + 2)]}
    # "the elbow lesion enlarged": a verb after its subject
    subject = doc[ent.start - 1 : ent.start].text.lower() in _CLINICAL_LESION_NOUNS | {
        "it", "they", "which", "that"}
    return subject or bool(before & _GROWTH_BEFORE) or bool(
        after & {"over", "since", "during", "in", "within", "from"})


def _level_of(ent: Span) -> bool:
    """Whether a vertebra gives a height ("at the level of C1-C2", "down to C5-C6")."""
    if not _LEVEL.match(ent.text.lower()):
        return False
    doc = ent.doc
    floor = _sent(ent).start
    start = ent.start
    # "C1-C2", "C5 and C6": the second level of a range is a level too
    while (start - 2 >= floor and doc[start - 1].lower_ in {"-", "–", "to", "and", ","}
           and _LEVEL.match(doc[start - 2].lower_)):
        start -= 2
    before = [t.lower_ for t in doc[max(floor, start - 3) : start]]
    while before and before[-1] in {"the", "a"}:
        before.pop()
    return before[-2:] in (["level", "of"], ["levels", "of"], ["down", "to"], ["up", "to"])


def _other_side(ent: Span) -> bool:
    """Whether the place is named as the other side ("the opposite shoulder")."""
    doc = ent.doc
    before = [t.lower_ for t in doc[max(_sent(ent).start, ent.start - 2) : ent.start]]
    return bool(set(before) & {"other", "opposite", "contralateral"})


def _apart_from(ent: Span) -> bool:
    """Whether the entity is what the lesion lies apart from ("separate from the skin")."""
    doc = ent.doc
    i = ent.start - 1
    floor = _sent(ent).start
    while i >= floor and doc[i].lower_ in {"the", "a", "an", "overlying", "underlying"}:
        i -= 1
    if i < floor or doc[i].lower_ not in {"from", "of", "to"}:
        return False
    word = doc[i - 1].lower_ if i - 1 >= floor else ""
    if doc[i].lower_ == "to":
        # "not attached to the skin", "not fixed to the bone"
        return word in {"attached", "fixed", "tethered", "adherent"} and (
            i - 2 >= floor and doc[i - 2].lower_ in {"not", "never"})
    return word in _APART_WORDS


def _organ_state(ent: Span) -> bool:
    """Whether the sentence states the organ's own state ("the prostate was enlarged").

    A structure said to be atrophic, enlarged, swollen or normal is described for its
    own sake; the lesion is placed elsewhere ("a stone in the duct; the gland was
    atrophic").
    """
    doc = ent.doc
    sent = _sent(ent)
    if ent.start - 1 >= sent.start and doc[ent.start - 1].lower_ in _ORGAN_STATES:
        return True  # "swollen parotid glands", "an atrophic kidney"
    i = ent.end
    if i < sent.end and doc[i].lower_ in {"gland", "glands"}:
        i += 1
    if i >= sent.end or doc[i].lower_ not in {"was", "were", "is", "are", "appeared",
                                              "looked", "remained"}:
        return False
    i += 1
    while i < sent.end and doc[i].lower_ in {"moderately", "mildly", "markedly", "slightly",
                                             "diffusely", "also", "otherwise", "very"}:
        i += 1
    return i < sent.end and doc[i].lower_ in _ORGAN_STATES


def _operation_now(ent: Span) -> bool:
    """Whether an operation word names the operation on the lesion itself.

    "At surgery the mass measured...", "during the operation", "suspected before
    surgery", "removed at operation", "surgery showed": the treatment or the
    diagnosis of the lesion being described, not an operation in its history; nor is
    the name of a service ("a maxillofacial surgery clinic").
    """
    doc = ent.doc
    sent = _sent(ent)
    before = [t.lower_ for t in doc[max(sent.start, ent.start - 3) : ent.start]]
    while before and before[-1] in {"the", "a", "an"}:
        before.pop()
    if any(word in _OPERATION_NOW_BEFORE for word in before[-2:]):
        return True  # "at surgery", "at minor surgery", "before hand surgery"
    after = doc[ent.end : min(sent.end, ent.end + 2)]
    if after[:1].text.lower() in _SERVICE_NOUNS:
        return True  # "a surgery clinic", "the surgery department": a service, no operation
    return any(t.lower_ in _OPERATION_FINDS for t in after)


#: Words just before an operation word that make it the operation on the lesion now.
_OPERATION_NOW_BEFORE: Final = frozenset(
    {"at", "during", "before", "until", "awaiting", "intra"})
#: Nouns after an operation word that make it the name of a service.
_SERVICE_NOUNS: Final = frozenset(
    {"clinic", "clinics", "department", "unit", "ward", "service", "team", "outpatient",
     "outpatients"})


def _beside(ent: Span) -> bool:
    """Whether a neighbour verb or preposition scopes over the entity.

    "displacing the kidney", "pushed the pancreatic tail, kidney and stomach aside",
    "beneath the fascia".
    """
    doc = ent.doc
    before = [t.lower_ for t in doc[max(0, ent.start - 3) : ent.start]]
    if before[-1:] == ["the"]:
        before = before[:-1]
    if before[-1:] == ["to"] and len(before) >= 2 and before[-2] in _SIDE_OF_WORDS:
        return True  # "lateral to the bladder", "deep to the fascia"
    # "beside the right side of the uterine fundus", "between the left lobe of the
    # liver": the neighbour word scopes over the part and the organ it is part of
    start = ent.start
    while start - 1 > _sent(ent).start and doc[start - 1].lower_ in _SIDE_ADJECTIVES:
        start -= 1  # "the upper pole of the right kidney"
    while (start - 3 >= _sent(ent).start and doc[start - 1].lower_ == "the"
           and doc[start - 2].lower_ == "of" and doc[start - 3].lower_ in _PART_NOUNS):
        start -= 3
    found = _look_back(doc, start, _sent(ent).start, _BESIDE_REACH, _BESIDE_WORDS,
                       _BESIDE_BREAKS)
    return found is not None


def _skin_sign(ent: Span) -> bool:
    """Whether "skin" names a sign of the skin or the skin over the lesion.

    "skin lesions", "skin eruptions", "sclerotic skin", "the skin over the swelling was
    scarred": what the skin shows or what covers the lesion, not where it lies ("a
    nodule in the skin", "a skin lesion on the nose", "calcification of the dermis"
    still are: one lesion named in the skin is the lesion).
    """
    doc = ent.doc
    after = doc[ent.end : ent.end + 1].text.lower()
    before = doc[ent.start - 1 : ent.start].text.lower() if ent.start else ""
    return after in _SKIN_SIGN_AFTER or before in _SKIN_STATES


#: Words after "skin" that make it a sign of the skin or the skin covering the lesion.
_SKIN_SIGN_AFTER: Final = frozenset(
    {"lesions", "eruption", "eruptions", "rash", "rashes", "changes", "change",
     "involvement", "thickening", "tightening", "over", "overlying", "above", "covering",
     "was", "were", "showed"}
)
#: States of the skin said for their own sake ("thickened skin", "the overlying skin").
_SKIN_STATES: Final = frozenset(
    {"thickened", "sclerotic", "tight", "taut", "scarred", "shiny", "overlying", "normal",
     "intact", "stretched", "surrounding", "thick", "atrophic", "indurated", "hardened"}
)


#: Words that liken the lesion to something else: what follows is not its place.
_LIKENING_WORDS: Final = frozenset(
    {"resembling", "resembled", "resembles", "resemble", "simulating", "mimicking"})
_LOOK_WORDS: Final = frozenset(
    {"looked", "look", "looks", "looking", "appeared", "seemed", "seems"})


def _compared(ent: Span) -> bool:
    """Whether the entity is what the lesion is compared with ("isointense to muscle")."""
    doc = ent.doc
    before = [t.lower_ for t in doc[max(_sent(ent).start, ent.start - 4) : ent.start]]
    if "than" in before[-3:]:
        return True
    if before[-1:] == ["of"] and any(w in _SIGNAL_WORDS for w in before[-3:-1]):
        return True  # "the signal of subcutaneous fat": what the lesion looks like
    if any(w in _LIKENING_WORDS for w in before) or any(
            a in _LOOK_WORDS and b == "like" for a, b in pairwise(before)):
        return True  # "an opacity that looked like a pulmonary nodule": what it resembles
    return "to" in before[-2:] and any(word in _COMPARED_WORDS for word in before)


def _periarticular(
    doc: Doc, labels: dict[str, tuple[Fact, ...]]
) -> list[tuple[float, int, str, str, Phrase]]:
    """Location periarticular from a word of nearness followed by a joint.

    "within", "inside" or "throughout" a joint says intra-articular instead.
    """
    found: list[tuple[float, int, str, str, Phrase]] = []
    for sent in doc.sents:
        rank: int | None = None
        for token in sent:
            word = token.lower_
            side = word in _SIDE_WORDS
            inside = word in _INSIDE_WORDS
            if word not in _NEAR_WORDS and not side and not inside:
                continue
            value, joints = (
                ("intraarticular_body", _JOINT_ONLY) if inside else ("periarticular", _JOINT_NOUNS))
            reach = doc[token.i + 1 : min(sent.end, token.i + 1 + _NEAR_REACH)]
            said_to = False
            for other in reach:
                if other.lower_ in _NEAR_BREAKS:
                    break
                said_to = said_to or other.lower_ == "to"
                if other.lower_ in joints and (said_to or not side):
                    if rank is None:
                        rank = 0 if any(
                            _states(e, labels, _MINERAL_KINDS) for e in _ents_in(sent)) else 2
                    source = _phrase(doc[token.i : other.i + 1])
                    found.append((rank, source.start, "imaging.location", value, source))
                    break
    return found


def _of_other_sites(ent: Span) -> bool:
    """Whether a negated finding is said of other sites ("no other joint pain")."""
    doc = ent.doc
    before = [t.lower_ for t in doc[max(_sent(ent).start, ent.start - 2) : ent.start]]
    after = [t.lower_ for t in doc[ent.end : min(_sent(ent).end, ent.end + 3)]]
    return "other" in before or after[:1] == ["elsewhere"] or (
        after[:1] == ["of"] and "other" in after[1:])


#: Words in a noun phrase that make it a guess, not a lesion seen ("a suspected tumour").
_UNCERTAIN_WORDS: Final = frozenset(
    {"suspected", "presumed", "possible", "probable", "presumptive", "questionable"})
#: Words before plural foci that make them more lesions ("further nodular opacities").
_MORE_WORDS: Final = frozenset({"further", "other", "more", "additional", "similar"})
#: How far back (tokens) a negation keeps a plural noun from counting lesions.
_PLURAL_NEGATION_REACH: Final = 5


def _counts_lesions(doc: Doc, token: Token, sent: Span) -> bool:
    """Whether a plural lesion noun names several lesions of the patient.

    Foci, flecks, spots... lie within one lesion unless said to be more of them ("further
    nodular opacities"); not when negated ("without nodules", "no enlargement of regional
    lymph nodes") or said to lie inside the lesion ("round nodules inside it").
    """
    before = {t.lower_ for t in doc[max(sent.start, token.i - 3) : token.i]}
    if token.lower_ in _PLURAL_WITHIN_ONE:
        return bool(before & _MORE_WORDS)
    if any(t.lower_ in _NEGATORS
           for t in doc[max(sent.start, token.i - _PLURAL_NEGATION_REACH) : token.i]):
        return False
    after = [t.lower_ for t in doc[token.i + 1 : min(sent.end, token.i + 4)]]
    return not (after[:1] and after[0] in _INSIDE_WORDS | {"in", "inside"} and bool(
        set(after[1:3]) & {"it", "its", "them"}))


def _foci_of_one_lesion(doc: Doc, noun: int) -> bool:
    """Whether the plural noun at `noun` counts foci inside one lesion named before it.

    "a soft-tissue mass with a few calcified foci", "a cystic mass ...; it held a few
    scattered calcifications": the count is of the foci, the lesion is one.
    """
    if doc[noun].lower_ not in _PLURAL_WITHIN_ONE:
        return False
    sent = _sent(doc[noun : noun + 1])
    start = sent.start
    if start > 0 and any(t.lower_ in {"its", "it"} for t in sent):
        start = _sent(doc[start - 1 : start]).start  # "... a lesion. MRI showed ... at its"
    return any(
        token.lower_ in _ONE_LESION_NOUNS
        and _determiner_before(doc, token.i, start) is not None
        for token in doc[start:noun]
    )


def _holds(doc: Doc, mass: int, ent: Span) -> bool:
    """Whether the mass noun at `mass` holds the mineral `ent` named after it."""
    if not mass < ent.start <= mass + _HOLDS_REACH:
        return False
    for i in range(ent.start - 1, mass, -1):
        if doc[i].lower_ in _HOLDING_WORDS:
            # "a 2 cm mass containing a ring-like calcification": the holding word
            # governs the noun phrase of the mineral, however many words describe it
            return ent.start - i <= _WITHIN_MASS_GAP or not any(
                t.lower_ in _HELD_BREAKS for t in doc[i + 1 : ent.start])
    return False


def _mass_is_the_mineral(doc: Doc, ent: Span, mass: int) -> bool:
    """Whether a mineral word premodifies the mass noun alone.

    "a calcified mass", "lobulated calcific masses": the mass is the deposit, not a
    mass holding it.
    """
    if not ent.end <= mass <= ent.end + 2:
        return False
    # "a partly calcified mass", "a peripherally calcified mass": a mass that holds
    # mineral; but "a well-demarcated, lobulated calcified mass": the listed describing
    # words before the mineral word are the deposit's own
    if {t.lower_ for t in doc[max(_sent(ent).start, ent.start - 2) : mass]} & (
            _PART_WORDS | {"with", "of"}):
        return False
    if {t.lower_ for t in doc[ent.end : mass]} & {"and", "or", ","}:
        return False
    # "a calcified retroperitoneal mass": a mass of a place, named as a tumour is
    return not any(ent.end <= other.start < mass for other in _ents_in(_sent(ent)))


def _prefixed_non(ent: Span) -> bool:
    """Whether the words carry a "non-" prefix ("non-tender"): negated, that word only."""
    doc = ent.doc
    return ent.start >= 2 and doc[ent.start - 1].text == "-" and doc[ent.start - 2].lower_ == "non"


def _is_plural(word: str) -> bool:
    """Whether a lesion noun is plural ("masses", "foci"; not "mass", "focus", "calculus")."""
    return word in _IRREGULAR_PLURALS or (word.endswith("s") and not word.endswith(("ss", "us")))


def _look_back(
    doc: Doc, index: int, floor: int, reach: int, hits: frozenset[str], breaks: frozenset[str]
) -> int | None:
    """Index of the nearest word of `hits` before `index`, unless `breaks` come first.

    The search goes back at most `reach` tokens and never before `floor`.
    """
    for i in range(index - 1, max(floor, index - reach) - 1, -1):
        word = doc[i].lower_
        if word in hits:
            return i
        if word in breaks:
            return None
    return None


def _determiner_before(doc: Doc, index: int, floor: int) -> int | None:
    """Index of a singular determiner opening the noun phrase that ends at `index`."""
    return _look_back(doc, index, floor, _NOUN_PHRASE_MAX, _SINGULAR_DETERMINERS,
                      _PHRASE_BREAKS)


def _names_finding(sent: Span, labels: dict[str, tuple[Fact, ...]]) -> bool:
    """Whether a sentence describes the imaging (names a modality, the mineral or a pattern)."""
    return any(_states(ent, labels, _IMAGING_KINDS) for ent in _ents_in(sent))


def _read_labs(doc: Doc, labels: dict[str, tuple[Fact, ...]], draft: _Draft) -> None:
    """Attach each lab name to the level word before it ("raised phosphate") or after it."""
    for sentence in doc.sents:
        items: list[tuple[Span, str, str]] = []  # (span, kind, value)
        for ent in _ents_in(sentence):
            if ent._.family or ent._.uncertain:
                continue
            for fact in labels[ent.label_]:
                if fact.kind in {"lab", "level"}:
                    items.append((ent, fact.kind, fact.value))
        for index, (ent, kind, lab) in enumerate(items):
            if kind != "lab":
                continue
            before, after = _level_before(doc, items, index), _level_after(doc, items, index)
            level = before or after
            if before is not None and after is not None and any(
                t.lower_ in {"and", ",", ";"} for t in doc[before[0].end : ent.start]
            ):
                # "... were normal and CRP raised": the level before ends the last clause
                level = after
            if level is None:
                measured = _measured_level(doc.text, ent.end_char, lab)
                if measured is not None:
                    value, end = measured
                    draft.add(f"labs.{lab}", value, _char_phrase(doc.text, ent.start_char, end))
                    continue
                draft.set_aside.append(SetAside(_phrase(ent), f"{lab} named without a level"))
                continue
            word, value = level
            start, end = min(ent.start_char, word.start_char), max(ent.end_char, word.end_char)
            draft.add(f"labs.{lab}", value, _char_phrase(doc.text, start, end))


#: Adult reference intervals (low, high) by lab and unit, for a measured value stated
#: without a word for its level. Calcium (adjusted) 2.2-2.6 mmol/L, phosphate
#: 0.8-1.5 mmol/L and alkaline phosphatase 30-130 U/L: the UK Pathology Harmony
#: intervals (Berg J, Lane V. Ann Clin Biochem 2011;48:195-197); in mg/dL the same
#: intervals converted (calcium x 4.008, phosphorus x 3.097). Urate: upper limit
#: 0.42 mmol/L (7 mg/dL), the saturation threshold of monosodium urate (EULAR gout
#: recommendations, Richette P et al. Ann Rheum Dis 2017;76:29-42); lower 0.12 mmol/L.
#: PTH 1.6-6.9 pmol/L (15-65 pg/mL or ng/L), creatinine 45-104 umol/L (0.5-1.2 mg/dL),
#: CRP under 5 mg/L, ESR under 30 mm/h (the Westergren upper limit rises with age,
#: about age/2 in men: 30 mm/h stays above it to age 60), CK 25-320 U/L,
#: 25-hydroxyvitamin D 50-125 nmol/L (20-50 ng/mL):
#: manufacturers' adult intervals as printed on laboratory reports (heuristic: local
#: intervals differ slightly; a value near a limit may be misread, so values within
#: 2 % of a limit are left unread).
_REFERENCE_INTERVALS: Final[dict[tuple[str, str], tuple[float, float]]] = {
    ("calcium", "mmol/l"): (2.2, 2.6),
    ("calcium", "mg/dl"): (8.8, 10.4),
    ("phosphate", "mmol/l"): (0.8, 1.5),
    ("phosphate", "mg/dl"): (2.5, 4.6),
    ("alkaline_phosphatase", "u/l"): (30.0, 130.0),
    ("urate", "mmol/l"): (0.12, 0.42),
    ("urate", "umol/l"): (120.0, 420.0),
    ("urate", "mg/dl"): (2.0, 7.0),
    ("pth", "pmol/l"): (1.6, 6.9),
    ("pth", "pg/ml"): (15.0, 65.0),
    ("pth", "ng/l"): (15.0, 65.0),
    ("creatinine", "umol/l"): (45.0, 104.0),
    ("creatinine", "mg/dl"): (0.5, 1.2),
    ("crp_esr", "mg/l"): (0.0, 5.0),
    ("crp_esr", "mm/h"): (0.0, 30.0),
    ("ck", "u/l"): (25.0, 320.0),
    ("vitamin_d", "nmol/l"): (50.0, 125.0),
    ("vitamin_d", "ng/ml"): (20.0, 50.0),
}
_MEASURED = re.compile(
    r"^(?:\s|\(|:|=|,|was|were|is|of|at|level|levels|serum|measured|measuring)*"
    r"(\d+(?:[.,]\d+)?)\s*(mmol/l|mg/dl|µmol/l|umol/l|μmol/l|pmol/l|pg/ml|ng/l|u/l|iu/l|"
    r"mg/l|nmol/l|ng/ml|mm/hr?)(?![\w/])",
    re.IGNORECASE,
)


def _measured_level(text: str, start: int, lab: str) -> tuple[str, int] | None:
    """The level (low, normal, high) of a measured value right after a lab's name."""
    match = _MEASURED.match(text[start : start + 60])
    if match is None:
        return None
    unit = match.group(2).lower().replace("µ", "u").replace("μ", "u").replace("iu/l", "u/l")
    unit = "mm/h" if unit == "mm/hr" else unit
    interval = _REFERENCE_INTERVALS.get((lab, unit))
    if interval is None:
        return None
    value = float(match.group(1).replace(",", "."))
    low, high = interval
    margin = 0.02 * high
    if abs(value - high) <= margin or (low > 0 and abs(value - low) <= 0.02 * low):
        return None
    level = "high" if value > high else "low" if value < low else "normal"
    return level, start + match.end()


def _gap_ok(doc: Doc, start: int, end: int, limit: int) -> bool:
    gap = doc[start:end]
    return len(gap) <= limit and all(t.lower_ in _LAB_GAP or t.like_num for t in gap)


def _level_before(
    doc: Doc, items: list[tuple[Span, str, str]], index: int
) -> tuple[Span, str] | None:
    end = items[index][0].start
    for ent, kind, value in reversed(items[:index]):
        if not _gap_ok(doc, ent.end, end, 3):
            return None
        if kind == "level":
            return ent, value
        end = ent.start
    return None


def _level_after(
    doc: Doc, items: list[tuple[Span, str, str]], index: int
) -> tuple[Span, str] | None:
    start = items[index][0].end
    for ent, kind, value in items[index + 1 :]:
        if not _gap_ok(doc, start, ent.start, 8):
            return None
        if kind == "level":
            return ent, value
        start = ent.end
    return None


def _assemble(values: Sequence[ReadValue]) -> Case:
    data: dict[str, Any] = {"format": CASE_FORMAT}
    for item in values:
        head, _, tail = item.field.partition(".")
        if head in {"clinical", "clinical_absent"}:
            data.setdefault(head, []).append(item.value)
        elif head in {"patient", "labs"}:
            data.setdefault(head, {})[tail] = item.value
        elif tail in {"pattern", "arrangement", "associated", "associated_absent"}:
            data.setdefault("imaging", {}).setdefault(tail, []).append(item.value)
        else:
            data.setdefault("imaging", {})[tail] = item.value
    try:
        return parse_case(data)
    except CaseError as exc:  # the lexicon is checked against the vocabulary: a bug if reached
        raise TextError(f"the text was read into an invalid case ({exc})") from None


@lru_cache(maxsize=1)
def default_reader() -> TextReader:
    """The reader over the packaged lexicon (built once per process, about a second)."""
    return TextReader()


def read_text(text: str) -> Reading:
    """Read one description with the default reader.

    Parameters
    ----------
    text : str
        The finding described in plain English.

    Returns
    -------
    Reading

    Raises
    ------
    TextError
        When the text is empty, too long or off-topic.
    """
    return default_reader().read(text)
