"""The reader's lexicon: phrases of radiology wording and the case-format facts they state.

The phrases come from two places: every case-format vocabulary value read as
words (``periosteal_reaction`` -> "periosteal reaction") and the synonym lexicon
``data/lexicon.yaml`` (data, not code). :func:`load_lexicon` validates every
value the lexicon names against the case-format vocabulary, so a typo in the
data fails loudly instead of producing a value the case format rejects.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any, Final, NamedTuple

import yaml

from calcdx.case.vocabulary import Vocabulary, load_vocabulary
from calcdx.errors import KnowledgeBaseError

__all__ = ["Fact", "Lexicon", "load_lexicon", "normal_form", "variants"]

#: Case-format fields whose values the lexicon may name, and the path of each in a case.
FIELD_PATHS: Final = {
    "modality": "imaging.modality",
    "region": "imaging.region",
    "location": "imaging.location",
    "organ": "imaging.organ",
    "matrix": "imaging.matrix",
    "pattern": "imaging.pattern",
    "extent": "imaging.extent",
    "arrangement": "imaging.arrangement",
    "associated": "imaging.associated",
    "evolution": "imaging.evolution",
    "clinical": "clinical",
}

#: Vocabulary fields whose values also match when written as words.
_SPELLED_FIELDS: Final = (
    "modality",
    "matrix",
    "pattern",
    "extent",
    "arrangement",
    "associated",
    "evolution",
    "clinical",
    "location",
    "organ",
    "region",
)

# British and American spellings map to one matching form (only for matching:
# the words shown to the user are always the text's own).
_SPELLING: Final = (
    ("oedem", "edem"),
    ("aemi", "emi"),
    ("isation", "ization"),
    ("ised", "ized"),
    ("centre", "center"),
    ("fibre", "fiber"),
    ("tumour", "tumor"),
    ("haem", "hem"),
    ("oesoph", "esoph"),
    ("caec", "cec"),
    ("paed", "ped"),
    ("colour", "color"),
    ("ae", "e"),
)


def normal_form(word: str) -> str:
    """The matching form of one word: lower case, one spelling, singular.

    Parameters
    ----------
    word : str
        One token's text.

    Returns
    -------
    str
        The form both the text and the lexicon phrases are matched on.
    """
    form = word.lower()
    for british, american in _SPELLING:
        if british in form:
            form = form.replace(british, american)
    if len(form) > 4 and form.endswith("ies"):
        return form[:-3] + "y"
    if len(form) > 4 and form.endswith(("sses", "xes", "ches", "shes")):
        return form[:-2]
    if len(form) > 3 and form.endswith("s") and not form.endswith(("ss", "us", "is", "'s")):
        return form[:-1]
    return form


def variants(phrase: str) -> set[str]:
    """The written forms of a phrase: as given, hyphens as spaces, spaces as hyphens."""
    phrase = " ".join(phrase.lower().split())
    spaced = phrase.replace("-", " ")
    found = {phrase, spaced}
    words = spaced.split()
    if 1 < len(words) <= 3:
        found.add("-".join(words))
    # one compound written with a hyphen inside a longer phrase ("within the soft-tissue
    # mass", "small-bowel obstruction")
    for i in range(len(words) - 1):
        found.add(" ".join([*words[:i], f"{words[i]}-{words[i + 1]}", *words[i + 2 :]]))
    return found


class Fact(NamedTuple):
    """One thing a phrase states.

    Attributes
    ----------
    kind : str
        A case-format path (``imaging.region``, ``clinical``...) or a reader
        category: ``sex``, ``pronoun``, ``lab`` (value a lab name), ``level``
        (value ``low``/``normal``/``high``), ``lab_state`` (value ``lab=level``),
        ``trauma``, ``time`` (value ``recent``/``remote``), ``pain``, ``pain_time``
        (value ``acute``/``chronic``).
    value : str
        The value.
    """

    kind: str
    value: str


@dataclass(frozen=True)
class Lexicon:
    """Every phrase the reader knows and what it states.

    Attributes
    ----------
    phrases : dict of str to tuple of Fact
        Written phrase (lower case) to the facts it states.
    context : dict of str to list of str
        NegEx term lists (``preceding_negations``, ``following_negations``,
        ``termination``) and the ``uncertain`` and ``family`` trigger lists.
    filler : frozenset of str
        Matching forms of words that state nothing (never reported as not understood).
    counts : dict of str to list of str
        Extent value -> count words ("two", "several", "numerous").
    count_nouns : list of str
        Lesion nouns a count word must precede to state the extent.
    """

    phrases: dict[str, tuple[Fact, ...]]
    context: dict[str, list[str]]
    filler: frozenset[str]
    counts: dict[str, list[str]]
    count_nouns: list[str]


def _check(vocabulary: Vocabulary, field: str, value: str, where: str) -> None:
    if not vocabulary.allows(field, value):
        allowed = ", ".join(vocabulary.values(field))
        raise KnowledgeBaseError(
            f"text lexicon, {where}: {value!r} is not a case-format {field} value; "
            f"allowed values: {allowed}"
        )


def _strings(raw: Any, where: str) -> list[str]:
    if not isinstance(raw, list) or not all(isinstance(item, str | int) for item in raw):
        raise KnowledgeBaseError(f"text lexicon, {where}: expected a list of phrases")
    return [str(item) for item in raw]


def _add(table: dict[str, set[Fact]], phrases: Iterable[str], fact: Fact) -> None:
    for phrase in phrases:
        for written in variants(phrase):
            table[written].add(fact)


def _field_phrases(
    table: dict[str, set[Fact]], raw: Mapping[str, Any], vocabulary: Vocabulary
) -> None:
    for field in _SPELLED_FIELDS:
        for value in vocabulary.values(field):
            _add(table, [value.replace("_", " ")], Fact(FIELD_PATHS[field], value))
    for field, values in raw.items():
        if field not in FIELD_PATHS:
            raise KnowledgeBaseError(
                f"text lexicon, fields: unknown field {field!r}; use one of "
                + ", ".join(FIELD_PATHS)
            )
        for value, phrases in values.items():
            _check(vocabulary, field, value, f"fields.{field}")
            fact = Fact(FIELD_PATHS[field], value)
            _add(table, _strings(phrases, f"fields.{field}.{value}"), fact)


def _anatomy_phrases(
    table: dict[str, set[Fact]], raw: list[Any], vocabulary: Vocabulary
) -> None:
    for number, entry in enumerate(raw):
        where = f"anatomy[{number}]"
        facts = []
        for field in ("region", "location", "organ"):
            if field in entry:
                _check(vocabulary, field, entry[field], where)
                facts.append(Fact(FIELD_PATHS[field], entry[field]))
        if "organ" in entry and "location" not in entry:
            facts.append(Fact("imaging.location", "organ"))
        for fact in facts:
            _add(table, _strings(entry.get("terms"), where), fact)
    _organ_regions(table)


def _organ_regions(table: dict[str, set[Fact]]) -> None:
    """An organ phrase with no region of its own takes the region of its organ's words.

    "head of the pancreas" names the pancreas, and the pancreas lies in the abdomen; the
    region is the one the organ's other phrases state, when they all state the same one
    (the salivary glands lie in the neck and about the mouth: left unsaid).
    """
    regions: dict[str, set[str]] = {}
    for facts in table.values():
        organs = [f.value for f in facts if f.kind == "imaging.organ"]
        for region in (f.value for f in facts if f.kind == "imaging.region"):
            for organ in organs:
                regions.setdefault(organ, set()).add(region)
    for facts in table.values():
        if any(f.kind == "imaging.region" for f in facts):
            continue
        named = {f.value for f in facts if f.kind == "imaging.organ"}
        if len(named) != 1:
            continue
        stated: set[str] = regions.get(named.pop(), set())
        if len(stated) == 1:
            facts.add(Fact("imaging.region", next(iter(stated))))


def _lab_phrases(
    table: dict[str, set[Fact]], raw: Mapping[str, Any], vocabulary: Vocabulary
) -> None:
    for lab, phrases in raw["labs"]["names"].items():
        _check(vocabulary, "labs", lab, "labs.names")
        _add(table, _strings(phrases, f"labs.names.{lab}"), Fact("lab", lab))
    for level, phrases in raw["labs"]["levels"].items():
        _check(vocabulary, "lab_level", level, "labs.levels")
        _add(table, _strings(phrases, f"labs.levels.{level}"), Fact("level", level))
    for lab, levels in raw["lab_words"].items():
        _check(vocabulary, "labs", lab, "lab_words")
        for level, phrases in levels.items():
            _check(vocabulary, "lab_level", level, f"lab_words.{lab}")
            _add(table, _strings(phrases, f"lab_words.{lab}"), Fact("lab_state", f"{lab}={level}"))


def _compose_matrix(table: dict[str, set[Fact]]) -> None:
    """A phrase with a matrix word in it states that matrix too ("peripherally calcified")."""
    matrix = {
        phrase: fact
        for phrase, facts in table.items()
        if " " not in phrase
        for fact in facts
        if fact.kind == "imaging.matrix"
    }
    for phrase, facts in table.items():
        for word in re.split(r"[\s-]+", phrase):
            if word != phrase and word in matrix:
                facts.add(matrix[word])


def build_lexicon(raw: Mapping[str, Any], vocabulary: Vocabulary) -> Lexicon:
    """Build the lexicon from its decoded YAML.

    Parameters
    ----------
    raw : mapping
        The decoded ``lexicon.yaml``.
    vocabulary : Vocabulary
        The case-format vocabulary every value is checked against.

    Returns
    -------
    Lexicon

    Raises
    ------
    KnowledgeBaseError
        When a value is not in the case-format vocabulary or a section is malformed.
    """
    table: dict[str, set[Fact]] = defaultdict(set)
    try:
        _field_phrases(table, raw["fields"], vocabulary)
        _anatomy_phrases(table, raw["anatomy"], vocabulary)
        for sex, phrases in raw["sex"].items():
            _check(vocabulary, "sex", sex, "sex")
            _add(table, _strings(phrases, f"sex.{sex}"), Fact("sex", sex))
        for sex, phrases in raw["pronouns"].items():
            _check(vocabulary, "sex", sex, "pronouns")
            _add(table, _strings(phrases, f"pronouns.{sex}"), Fact("pronoun", sex))
        _lab_phrases(table, raw, vocabulary)
        pain = raw["pain"]
        _add(table, _strings(pain["terms"], "pain.terms"), Fact("pain", "pain"))
        _add(table, _strings(pain.get("none", []), "pain.none"), Fact("pain", "none"))
        for when in ("acute", "chronic"):
            _add(table, _strings(pain[when], f"pain.{when}"), Fact("pain_time", when))
        for field, values in raw.get("absent", {}).items():
            path = {"clinical": "clinical_absent", "associated": "imaging.associated_absent"}
            if field not in path:
                raise KnowledgeBaseError(
                    f"text lexicon, absent: unknown field {field!r}; use clinical or associated")
            for value, phrases in values.items():
                _check(vocabulary, field, value, f"absent.{field}")
                _add(table, _strings(phrases, f"absent.{field}.{value}"),
                     Fact(path[field], value))
        trauma = raw["trauma"]
        _add(table, _strings(trauma["terms"], "trauma.terms"), Fact("trauma", "trauma"))
        for when in ("recent", "remote"):
            _add(table, _strings(trauma[when], f"trauma.{when}"), Fact("time", when))
        context = {key: _strings(value, f"context.{key}") for key, value in raw["context"].items()}
        filler_words = _strings(raw["filler"], "filler")
        counts = {
            extent: _strings(raw["counts"][extent], f"counts.{extent}")
            for extent in raw["counts"]
            if extent != "nouns"
        }
        for extent in counts:
            _check(vocabulary, "extent", extent, "counts")
        count_nouns = _strings(raw["counts"]["nouns"], "counts.nouns")
    except (KeyError, TypeError, AttributeError) as exc:
        raise KnowledgeBaseError(f"text lexicon: missing or malformed section ({exc})") from None
    _compose_matrix(table)
    every_context_word = [w for terms in context.values() for term in terms for w in term.split()]
    filler = frozenset(
        normal_form(word)
        for phrase in [*filler_words, *every_context_word]
        for word in re.split(r"[\s-]+", phrase)
        if word
    )
    return Lexicon(
        phrases={phrase: tuple(sorted(facts)) for phrase, facts in table.items()},
        context=context,
        filler=filler,
        counts=counts,
        count_nouns=count_nouns,
    )


@lru_cache(maxsize=1)
def load_lexicon() -> Lexicon:
    """Read and validate the packaged lexicon (once per process).

    Returns
    -------
    Lexicon
    """
    text = resources.files("calcdx.text").joinpath("data/lexicon.yaml").read_text("utf-8")
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        raw = yaml.load(text, Loader=loader)
    except yaml.YAMLError as exc:
        raise KnowledgeBaseError(f"text lexicon: not valid YAML ({exc})") from None
    return build_lexicon(raw, load_vocabulary())
