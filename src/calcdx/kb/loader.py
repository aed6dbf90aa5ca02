"""Load and validate the knowledge base.

The knowledge base is a folder of YAML files: ``entities/<id>.yaml`` (one per
diagnosis), ``scale.yaml`` (words to numbers, prior tiers) and
``background.yaml`` (frequencies of findings an entity does not mention).
:func:`load_knowledge_base` reads and validates them; the packaged one is read
once per process.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from calcdx.case.vocabulary import load_vocabulary
from calcdx.errors import KnowledgeBaseError
from calcdx.kb.schema import (
    FREQUENCY_WORDS,
    PRIOR_TIERS,
    SINGLE_VALUED,
    SNOMED_SYSTEM,
    Entity,
    Figure,
)

#: FHIR ``system`` of calcdx's own codes (entity ids, measurement keys, patterns); the
#: same value as :data:`calcdx.standards.codes.PRIVATE_SYSTEM`.
ENTITY_SYSTEM = "urn:calcdx:codes"

__all__ = ["KnowledgeBase", "Scale", "default_kb_path", "load_knowledge_base"]

#: libyaml's safe loader when PyYAML was built with it (about 10x faster), else PyYAML's own.
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class CalibrationScale(BaseModel):
    """``scale.yaml: calibration``: fitted on the development set (see its comment)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    likelihood_exponent: float = Field(default=1.0, gt=0, le=3)
    prior_exponent: float = Field(default=1.0, ge=0, le=3)
    unlisted_present_factor: float = Field(default=1.0, gt=0, le=1)
    unlisted_absent_factor: float = Field(default=1.0, gt=0, le=1)
    leak: float = Field(default=0.0, ge=0, lt=0.5)
    #: exponents of the presentation, clinical (history and labs) and size evidence;
    #: None: likelihood_exponent
    presentation_likelihood_exponent: float | None = Field(default=None, gt=0, le=3)
    clinical_likelihood_exponent: float | None = Field(default=None, gt=0, le=3)
    size_likelihood_exponent: float | None = Field(default=None, gt=0, le=3)
    fitted_on: str | None = None


class Scale(BaseModel):
    """Contents of ``scale.yaml``: the one place where words become numbers."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    frequency: dict[str, float]
    prior_tier: dict[str, float]
    unlisted_single_value_floor: float = Field(gt=0, lt=0.5)
    range_background_share: float = Field(gt=0, lt=1)
    range_coverage: float = Field(default=0.9, gt=0.2, lt=1)
    ordinal_smoothing: float = Field(default=0.0, ge=0, le=0.5)
    unresolved_share: float = Field(default=0.0, ge=0, lt=0.5)
    weakly_listed_max: float = Field(default=0.0, ge=0, lt=0.5)
    unlisted_count_power: float = Field(default=1.0, gt=0, le=1)
    unlisted_pooled: bool = False
    finding_noise_share: float = Field(default=0.0, ge=0, lt=0.5)
    age_background_years: tuple[float, float]
    size_background_mm: tuple[float, float]
    red_flag_probability: float = Field(gt=0, lt=1)
    calibration: CalibrationScale = Field(default_factory=CalibrationScale)


class Background(BaseModel):
    """Contents of ``background.yaml``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    multi: dict[str, Any]
    single: dict[str, dict[str, float]] = Field(default_factory=dict)


def _number(frequency: str | Figure | float, scale: Scale) -> float:
    """A frequency word, published figure or plain share as a probability."""
    if isinstance(frequency, Figure):
        return frequency.p
    if isinstance(frequency, float | int):
        return float(frequency)
    return scale.frequency[frequency]


@dataclass(frozen=True)
class KnowledgeBase:
    """The validated knowledge base.

    Attributes
    ----------
    entities : dict of str to Entity
        Entities by id, sorted by id.
    scale : Scale
        Frequency words and prior tiers as numbers.
    background : Background
        Frequencies of findings an entity does not mention.
    source : str
        Where the files were read from (for messages).
    """

    entities: dict[str, Entity]
    scale: Scale
    background: Background
    source: str

    def __iter__(self) -> Iterator[Entity]:
        return iter(self.entities.values())

    def __len__(self) -> int:
        return len(self.entities)

    def __getitem__(self, entity_id: str) -> Entity:
        try:
            return self.entities[entity_id]
        except KeyError:
            raise KnowledgeBaseError(
                f"no entity {entity_id!r} in the knowledge base; "
                "run 'calcdx kb list' to see the ids"
            ) from None

    def probability(self, frequency: str | Figure | float) -> float:
        """Turn a frequency word, published figure or plain share into a probability."""
        return _number(frequency, self.scale)

    def background_multi(self, field: str, value: str) -> float:
        """P(`value` present | an entity whose file does not list it), for a multi field."""
        per_field = self.background.multi.get(field, {})
        word = per_field.get(value, self.background.multi["default"])
        return self.scale.frequency[word]

    def codeable_concept(self, entity_id: str) -> dict[str, Any]:
        """FHIR CodeableConcept of an entity: its checked standard codes, and its name.

        The codings are the entity's ``codes`` in file order (SNOMED CT, RadLex,
        ICD-10; FHIR allows codings of different granularity, so a broader one stays).
        An entity without an exact SNOMED CT concept (``Code.match``; a broader one,
        ICD-10 alone, or no code at all, see ``codes_note``) also gets calcdx's own coding, system
        :data:`ENTITY_SYSTEM` with the entity id as code, so that the exact
        diagnosis is machine-readable without a standard code pretending to be it;
        the DICOM SR uses the same entity id under the scheme ``99CALCDX``.
        """
        entity = self[entity_id]
        coding = [
            {"system": code.system, "code": code.code, "display": code.display}
            for code in entity.codes
        ]
        if not any(c.system == SNOMED_SYSTEM and c.match == "exact" for c in entity.codes):
            coding.append({"system": ENTITY_SYSTEM, "code": entity.id, "display": entity.name})
        return {"coding": coding, "text": entity.name}

    def search(self, text: str) -> list[Entity]:
        """Entities whose id, name or a synonym contains `text` (case-insensitive)."""
        needle = text.casefold().strip()
        return [
            entity
            for entity in self
            if needle in entity.id.casefold()
            or needle in entity.name.casefold()
            or any(needle in synonym.casefold() for synonym in entity.synonyms)
        ]


def default_kb_path() -> Path:
    """Return the folder of the packaged knowledge base."""
    return Path(str(resources.files("calcdx.kb").joinpath("data")))


def _read_yaml(path: Path) -> Any:
    try:
        return yaml.load(path.read_text("utf-8"), Loader=_SAFE_LOADER)
    except FileNotFoundError:
        raise KnowledgeBaseError(f"{path.name}: file is missing from the knowledge base") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise KnowledgeBaseError(f"{path.name}: not valid YAML{where}: {problem}") from None


def _field_path(loc: tuple[int | str, ...]) -> str:
    parts = [str(item) for item in loc if not str(item).startswith(("function-", "literal["))]
    return ".".join(parts) or "(top level)"


def _validation_message(name: str, exc: ValidationError) -> str:
    error = exc.errors(include_url=False)[0]
    message = str(error["msg"]).removeprefix("Value error, ")
    loc = tuple(error["loc"])
    if error["type"] == "extra_forbidden":
        message = "unknown field (check the spelling against calcdx/kb/schema.py)"
    elif error["type"] == "missing":
        message = "required field is missing"
    elif error["type"] in {"literal_error", "union_tag_invalid"} or "Input should be" in message:
        message = f"{error.get('input')!r}: {message}"
    if len(message) > 600:
        message = message[:600] + "..."
    return f"{name}: {_field_path(loc)}: {message}"


def _load_entity(path: Path) -> Entity:
    raw = _read_yaml(path)
    if not isinstance(raw, Mapping):
        raise KnowledgeBaseError(f"{path.name}: must hold one mapping (id, name, ...)")
    try:
        entity = Entity.model_validate(raw)
    except ValidationError as exc:
        raise KnowledgeBaseError(_validation_message(path.name, exc)) from None
    if entity.id != path.stem:
        raise KnowledgeBaseError(
            f"{path.name}: id: {entity.id!r} differs from the file name; name the file "
            f"{entity.id}.yaml"
        )
    return entity


def _check_scale(scale: Scale) -> None:
    missing = [word for word in FREQUENCY_WORDS if word not in scale.frequency]
    missing += [tier for tier in PRIOR_TIERS if tier not in scale.prior_tier]
    if missing:
        raise KnowledgeBaseError(f"scale.yaml: no number for {', '.join(missing)}")


def _check_background(background: Background) -> None:
    vocabulary = load_vocabulary()
    if background.multi.get("default") not in FREQUENCY_WORDS:
        raise KnowledgeBaseError("background.yaml: multi.default must be a frequency word")
    for field, values in background.multi.items():
        if field == "default":
            continue
        for value, word in values.items():
            if not vocabulary.allows(field, value) or word not in FREQUENCY_WORDS:
                raise KnowledgeBaseError(
                    f"background.yaml: multi.{field}.{value}: {word!r} is not a frequency "
                    "word for a vocabulary value"
                )


def _check_mimics(entities: Mapping[str, Entity]) -> None:
    for entity in entities.values():
        for index, mimic in enumerate(entity.mimics):
            if mimic.id not in entities:
                raise KnowledgeBaseError(
                    f"{entity.id}.yaml: mimics[{index}].id: {mimic.id!r} is not an entity id "
                    "of the knowledge base"
                )
            if mimic.id == entity.id:
                raise KnowledgeBaseError(f"{entity.id}.yaml: mimics[{index}]: names itself")


#: Rounding slack allowed on a categorical sum (shares are written with two decimals).
_SUM_TOLERANCE = 1e-6


def _check_distributions(entities: Mapping[str, Entity], scale: Scale) -> None:
    """Every single-valued field (and each lab) is a categorical distribution: sum <= 1."""
    for entity in entities.values():
        listed = [(f"findings.{field}", getattr(entity.findings, field)) for field in SINGLE_VALUED]
        listed += [(f"labs.{lab}", levels) for lab, levels in entity.labs.items()]
        for where, values in listed:
            total = sum(_number(frequency, scale) for frequency in values.values())
            if total > 1 + _SUM_TOLERANCE:
                raise KnowledgeBaseError(
                    f"{entity.id}.yaml: {where}: the listed frequencies sum to {total:.3g}, "
                    "above 1; a single-valued field is one categorical distribution (each "
                    "case has one value), so give each value its share of the entity's cases"
                )


def _load(folder: Path) -> KnowledgeBase:
    if not folder.is_dir():
        raise KnowledgeBaseError(f"{folder}: knowledge-base folder not found")
    try:
        scale = Scale.model_validate(_read_yaml(folder / "scale.yaml"))
        background = Background.model_validate(_read_yaml(folder / "background.yaml"))
    except ValidationError as exc:
        raise KnowledgeBaseError(_validation_message("scale.yaml/background.yaml", exc)) from None
    _check_scale(scale)
    _check_background(background)
    files = sorted((folder / "entities").glob("*.yaml"))
    if not files:
        raise KnowledgeBaseError(f"{folder / 'entities'}: no entity files (*.yaml) found")
    entities = {entity.id: entity for entity in map(_load_entity, files)}
    _check_mimics(entities)
    _check_distributions(entities, scale)
    return KnowledgeBase(entities=entities, scale=scale, background=background, source=str(folder))


@lru_cache(maxsize=4)
def _load_cached(folder: Path) -> KnowledgeBase:
    return _load(folder)


def load_knowledge_base(path: str | Path | None = None) -> KnowledgeBase:
    """Load and validate a knowledge base.

    Parameters
    ----------
    path : str or Path, optional
        Folder holding ``scale.yaml``, ``background.yaml`` and ``entities/``.
        Defaults to the packaged knowledge base.

    Returns
    -------
    KnowledgeBase
        The validated knowledge base (cached per folder).

    Raises
    ------
    KnowledgeBaseError
        Naming the file, the field and the problem.
    """
    folder = Path(path) if path is not None else default_kb_path()
    return _load_cached(folder.resolve())
