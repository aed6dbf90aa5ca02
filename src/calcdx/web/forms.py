"""The differential form, generated from the case-format vocabulary.

Every vocabulary field becomes one control, grouped the way a radiologist reads a
study: where, what it looks like, how many, patient, history, labs, associated
findings, evolution. Control names are the case-format paths the browser script
(``static/calcdx.js``) turns back into a case:

* ``imaging.region`` (a select), ``patient.age_years`` (a number), ``id`` (text);
* ``imaging.pattern`` (checkboxes, one per value);
* ``clinical:trauma_recent`` (radios ``""``/``present``/``absent``: present goes
  to ``clinical``, absent to ``clinical_absent``; the same for
  ``imaging.associated``);
* ``labs.calcium`` (radios ``""``/``low``/``normal``/``high``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from calcdx.case.vocabulary import CATEGORICAL_FIELDS, Vocabulary

__all__ = [
    "Control",
    "FindingControl",
    "Option",
    "Section",
    "build_form",
    "finding_control",
    "label",
]

Kind = Literal["select", "number", "text", "checks", "presence", "level"]

_WORDS = {
    "ct": "CT",
    "mri": "MRI",
    "us": "ultrasound",
    "pth": "PTH",
    "ck": "CK",
    "crp_esr": "CRP / ESR",
    "iv": "IV",
    "hu": "HU",
    "dish": "DISH",
    "opll_olf": "OPLL / OLF",
    "cppd": "CPPD",
}


def label(value: str) -> str:
    """A readable label for a vocabulary value (``trauma_recent`` -> ``trauma recent``)."""
    if value in _WORDS:
        return _WORDS[value]
    words = [_WORDS.get(word, word) for word in value.split("_")]
    return " ".join(words)


@dataclass(frozen=True)
class Option:
    """One choice of a control."""

    value: str
    label: str


@dataclass(frozen=True)
class Control:
    """One form control (or group of controls) for one case-format field.

    Attributes
    ----------
    name : str
        The control's name, a case-format path (see the module docstring).
    label : str
        Visible label.
    kind : str
        ``select``, ``number``, ``text``, ``checks``, ``presence`` or ``level``.
    options : tuple of Option
        Choices (selects, checkboxes, presence and level groups).
    hint : str
        A short help line.
    minimum, maximum, step : float or None
        Bounds of a number.
    """

    name: str
    label: str
    kind: Kind
    options: tuple[Option, ...] = ()
    hint: str = ""
    minimum: float | None = None
    maximum: float | None = None
    step: float | None = None

    @property
    def dom_id(self) -> str:
        """An HTML id derived from the name."""
        return "f-" + self.name.replace(".", "-").replace(":", "-")


@dataclass(frozen=True)
class Section:
    """A titled group of controls."""

    id: str
    title: str
    controls: tuple[Control, ...]
    open: bool = True
    hint: str = ""
    columns: int = field(default=1)


def _options(vocabulary: Vocabulary, name: str) -> tuple[Option, ...]:
    return tuple(Option(value, label(value)) for value in vocabulary.values(name))


def _select(vocabulary: Vocabulary, name: str, title: str, hint: str = "") -> Control:
    return Control(f"imaging.{name}", title, "select", _options(vocabulary, name), hint)


def _checks(vocabulary: Vocabulary, name: str, title: str, hint: str = "") -> Control:
    return Control(f"imaging.{name}", title, "checks", _options(vocabulary, name), hint)


def build_form(vocabulary: Vocabulary) -> tuple[Section, ...]:
    """Build the form's sections from the vocabulary.

    Parameters
    ----------
    vocabulary : Vocabulary
        The case-format vocabulary.

    Returns
    -------
    tuple of Section
        Where, what it looks like, how many, patient, history, labs,
        associated findings, evolution.
    """
    levels = _options(vocabulary, "lab_level")
    labs = tuple(
        Control(f"labs.{lab}", label(lab), "level", levels) for lab in vocabulary.values("labs")
    )
    presence = (Option("present", "present"), Option("absent", "absent"))
    clinical = tuple(
        Control(f"clinical:{value}", label(value), "presence", presence)
        for value in vocabulary.values("clinical")
    )
    associated = tuple(
        Control(f"imaging.associated:{value}", label(value), "presence", presence)
        for value in vocabulary.values("associated")
    )
    return (
        Section(
            "where",
            "Where",
            (
                _select(vocabulary, "region", "Region"),
                _select(vocabulary, "location", "Location (tissue compartment)"),
                _select(vocabulary, "organ", "Organ", "when the location is 'organ'"),
            ),
        ),
        Section(
            "what",
            "What it looks like",
            (
                _select(vocabulary, "modality", "Seen on"),
                _select(vocabulary, "matrix", "Matrix"),
                _checks(vocabulary, "pattern", "Pattern", "one or more"),
                Control(
                    "imaging.size_mm",
                    "Size of the dominant lesion (mm)",
                    "number",
                    minimum=0.1,
                    maximum=2000,
                    step=0.1,
                ),
            ),
        ),
        Section(
            "howmany",
            "How many",
            (
                _select(vocabulary, "extent", "Extent"),
                _checks(vocabulary, "arrangement", "Arrangement", "zero or more"),
            ),
        ),
        Section(
            "patient",
            "Patient",
            (
                Control(
                    "patient.age_years", "Age (years)", "number", minimum=0, maximum=120, step=1
                ),
                Control("patient.sex", "Sex", "select", _options(vocabulary, "sex")),
                Control("id", "Case id (optional, not a patient identifier)", "text"),
            ),
        ),
        Section(
            "history",
            "History",
            clinical,
            open=False,
            hint="present or absent; leave unknown what you do not know",
            columns=2,
        ),
        Section("labs", "Labs", labs, open=False, columns=2),
        Section(
            "associated",
            "Associated findings",
            associated,
            open=False,
            hint="present or absent; leave unknown what you have not looked for",
            columns=2,
        ),
        Section("evolution", "Evolution", (_select(vocabulary, "evolution", "Evolution"),)),
    )


@dataclass(frozen=True)
class FindingControl:
    """Where a suggested next finding goes in the form.

    Attributes
    ----------
    name : str
        Control name.
    value : str
        Control value that states the finding.
    absent_value : str or None
        Control value that states its absence, when the case format can say so.
    text : str
        Readable finding.
    """

    name: str
    value: str
    absent_value: str | None
    text: str


def finding_control(field_name: str, value: str) -> FindingControl | None:
    """Map a ``next_findings`` item (field, value) to its form control.

    Parameters
    ----------
    field_name : str
        ``region``, ``pattern``, ``associated``, ``clinical``, ``labs.calcium``...
    value : str
        The finding's value.

    Returns
    -------
    FindingControl or None
        None for a field the form does not hold.
    """
    if field_name in CATEGORICAL_FIELDS or field_name in {"modality", "pattern", "arrangement"}:
        return FindingControl(
            f"imaging.{field_name}", value, None, f"{label(field_name)}: {label(value)}"
        )
    if field_name == "associated":
        return FindingControl(f"imaging.associated:{value}", "present", "absent", label(value))
    if field_name == "clinical":
        return FindingControl(f"clinical:{value}", "present", "absent", label(value))
    if field_name.startswith("labs."):
        lab = field_name.removeprefix("labs.")
        return FindingControl(field_name, value, None, f"{label(lab)} {value}")
    if field_name == "sex":
        return FindingControl("patient.sex", value, None, f"sex: {value}")
    return None
