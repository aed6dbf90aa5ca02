"""Measure the differential on labelled cases: accuracy, calibration, cross-validation.

A labelled case is a ``calcdx-case/1`` case with the diagnosis its source
publishes (``truth``), read from a YAML list (the format of
``tests/data/real_cases/README.md``). The calibrated posterior is

    p(e) = (1 - leak) softmax(a log prior(e) + w sum_f log P(f | e)
                              + b_p n_p(e) + b_a n_a(e)) + leak / E,

``n_p`` (``n_a``) counting the stated values (absences) that the entity's file does
not list though it describes the field; ``a`` flattens the prior, ``w`` tempers the
overconfidence of naive Bayes when findings are dependent, the reporting factors
``exp(b / w)`` (:class:`Calibration`) penalise unlisted values, the leak keeps every
entity possible. All are fitted together by maximum likelihood (least log loss):
the log-score is linear in ``(a, w, b_p, b_a)``, so for each leak the fit is a
smooth convex problem. :func:`cross_validate` fits them on k - 1 folds (or on every batch but
one) and scores the held-out fold, so no case is scored by parameters fitted on it;
:func:`fit_scale` (``calcdx kb fit``) also selects the compile-time settings of
:data:`SETTINGS` by cross-validation, and :func:`write_fitted_scale` deploys the
result into ``scale.yaml``.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final, NamedTuple

import numpy as np
import yaml
from numpy.typing import NDArray
from scipy.optimize import minimize

from calcdx.case.model import Case, parse_case
from calcdx.errors import CaseError
from calcdx.kb.loader import KnowledgeBase, load_knowledge_base
from calcdx.reasoning.differential import Engine
from calcdx.reasoning.evidence import gather_evidence
from calcdx.reasoning.model import EVIDENCE_GROUPS, Calibration, compile_model

__all__ = [
    "SETTINGS",
    "Calibration",
    "Evaluation",
    "Features",
    "FittedScale",
    "HeldOut",
    "LabelledCase",
    "Scores",
    "calibrated_posterior",
    "case_groups",
    "cross_validate",
    "evaluate",
    "evaluate_held_out",
    "fit_calibration",
    "fit_scale",
    "load_labelled_cases",
    "raw_features",
    "raw_log_scores",
    "score",
    "write_fitted_scale",
]

#: Bounds of the leak fitted by :func:`fit_calibration`: never 0, so every entity keeps
#: a probability.
LEAK_RANGE: Final = (0.0005, 0.1)
#: Least reporting factor :func:`fit_calibration` returns (its 4-decimal rounding would
#: otherwise turn a factor at its bound into 0).
FACTOR_MIN: Final = 1e-4
#: Bins of the reliability table and the expected calibration error (top-1 probability).
N_BINS: Final = 10

FloatArray = NDArray[np.float64]


class LabelledCase(NamedTuple):
    """A case with its published diagnosis.

    Attributes
    ----------
    id : str
        Case id.
    truth : str
        Entity id of the published diagnosis.
    modality : str
        ``radiograph``, ``ct``, ``mri``, ``us`` or ``unknown``.
    difficulty : str
        ``typical`` or ``hard``.
    case : Case
        The validated case.
    batch : str
        The file it was read from (its stem, e.g. ``batch_a``): the batches were
        transcribed at different times from different sources, so leave-one-batch-out
        cross-validation (:func:`cross_validate` with ``groups``) scores each case as
        an unseen source would be scored.
    """

    id: str
    truth: str
    modality: str
    difficulty: str
    case: Case
    batch: str = ""


def _difficulty(item: dict[str, object]) -> str:
    stated = item.get("difficulty")
    if stated in {"typical", "hard"}:
        return str(stated)
    # the literature set marks its hard cases with the word "atypical" in the note
    return "hard" if "atypical" in str(item.get("note", "")).casefold() else "typical"


def load_labelled_cases(paths: Iterable[Path], entity_ids: Sequence[str]) -> list[LabelledCase]:
    """Read labelled cases from YAML lists.

    Parameters
    ----------
    paths : iterable of Path
        YAML files, each one list of items with ``id``, ``truth`` and ``case``.
    entity_ids : sequence of str
        Entity ids of the knowledge base (a truth must be one of them).

    Returns
    -------
    list of LabelledCase
        In file order, then item order.

    Raises
    ------
    CaseError
        Naming the file and the case id when an item is malformed.
    """
    known = set(entity_ids)
    out: list[LabelledCase] = []
    for path in paths:
        items = yaml.safe_load(path.read_text("utf-8")) or []
        if not isinstance(items, list):
            raise CaseError(f"{path.name}: must hold one YAML list of cases")
        for index, item in enumerate(items):
            where = f"{path.name}: item {index} ({item.get('id', 'no id')})"
            if not isinstance(item, dict) or "truth" not in item or "case" not in item:
                raise CaseError(f"{where}: needs 'truth' and 'case'")
            if item["truth"] not in known:
                raise CaseError(f"{where}: truth {item['truth']!r} is not an entity id")
            try:
                case = parse_case(item["case"])
            except CaseError as exc:
                raise CaseError(f"{where}: {exc}") from None
            out.append(
                LabelledCase(
                    id=str(item.get("id", f"{path.stem}-{index}")),
                    truth=str(item["truth"]),
                    modality=case.imaging.modality or "unknown",
                    difficulty=_difficulty(item),
                    case=case,
                    batch=path.stem,
                )
            )
    return out


class Features(NamedTuple):
    """What the calibration weights, per case and entity, shape (n, E) each.

    Attributes
    ----------
    log_likelihood : (n, E) ndarray
        Summed plain naive-Bayes log-likelihoods ``sum_f log P(f | e)``, all groups.
    unlisted_present, unlisted_absent : (n, E) ndarray
        How many stated values (stated absences) the entity's file does not list
        although it describes the field (:attr:`LikelihoodModel.unlisted`), raised to
        the power ``scale.unlisted_count_power`` (:attr:`Calibration.count_power`).
    presentation_log_likelihood, clinical_log_likelihood, size_log_likelihood : (n, E) \
ndarray, optional
        The part of ``log_likelihood`` from the presentation, the clinical (history and
        labs) and the size evidence (:data:`calcdx.reasoning.model.EVIDENCE_GROUPS`);
        without them the groups share one exponent.
    """

    log_likelihood: FloatArray
    unlisted_present: FloatArray
    unlisted_absent: FloatArray
    presentation_log_likelihood: FloatArray | None = None
    clinical_log_likelihood: FloatArray | None = None
    size_log_likelihood: FloatArray | None = None


def raw_features(engine: Engine, cases: Sequence[LabelledCase]) -> Features:
    """The calibration's inputs for each case (plain tables: no factor applied)."""
    plain = dataclasses.replace(engine.model, calibration=Calibration())
    n, n_entities = len(cases), engine.model.n_entities
    log_likelihood = np.zeros((n, n_entities))
    present = np.zeros((n, n_entities))
    absent = np.zeros((n, n_entities))
    by_group = {group: np.zeros((n, n_entities)) for group in EVIDENCE_GROUPS}
    for row, item in enumerate(cases):
        for evidence in gather_evidence(item.case, plain):
            log = np.log(evidence.likelihood)
            log_likelihood[row] += log
            by_group[evidence.group][row] += log
            if evidence.unlisted is not None:
                counts = absent if "_absent=" in evidence.key else present
                counts[row] += evidence.unlisted
    # the calibration weights n ** power (Calibration.count_power; 1: n itself); pooled,
    # n counts the stated values and absences together and each takes its share n_f / n
    power = engine.model.calibration.count_power
    if engine.model.calibration.pooled:
        total = present + absent
        scale = np.divide(total**power, total, out=np.zeros_like(total), where=total > 0)
        present, absent = present * scale, absent * scale
    else:
        present, absent = present**power, absent**power
    return Features(
        log_likelihood,
        present,
        absent,
        by_group["presentation"],
        by_group["clinical"],
        by_group["size"],
    )


def raw_log_scores(engine: Engine, cases: Sequence[LabelledCase]) -> FloatArray:
    """Summed plain log-likelihood of each case's findings under every entity, shape (n, E)."""
    return raw_features(engine, cases).log_likelihood


def _as_features(data: Features | FloatArray) -> tuple[Features, bool]:
    """`data` as Features with every array, and whether it carries unlisted counts.

    Missing group parts are zeros (all the evidence then counts as imaging).
    """
    if isinstance(data, Features):
        zeros = np.zeros_like(data.log_likelihood)
        parts = {
            name: zeros if getattr(data, name) is None else getattr(data, name)
            for name in _GROUP_PARTS
        }
        return data._replace(**parts), True
    zeros = np.zeros_like(data)
    return Features(np.asarray(data, dtype=np.float64), *[zeros] * 5), False


#: The fields of :class:`Features` holding one evidence group's part of the log-likelihood,
#: in the order of :data:`EVIDENCE_GROUPS` after imaging.
_GROUP_PARTS: Final = tuple(f"{group}_log_likelihood" for group in EVIDENCE_GROUPS[1:])


def _group_parts(features: Features) -> list[FloatArray]:
    """The group parts of `features` (of :func:`_as_features`: none is None)."""
    parts = [getattr(features, name) for name in _GROUP_PARTS]
    assert all(part is not None for part in parts)  # filled by _as_features
    return parts


def _grouped(features: Features) -> bool:
    """Whether `features` (of :func:`_as_features`) has evidence groups apart."""
    return any(bool(np.any(part != 0)) for part in _group_parts(features))


def calibrated_posterior(
    data: Features | FloatArray, log_prior: FloatArray, calibration: Calibration
) -> FloatArray:
    """Posteriors (n, E) of `calibration` from plain features (what the engine computes)."""
    features, _ = _as_features(data)
    # each group's log-likelihoods at its relative weight; the unlisted factors count at
    # the imaging exponent whatever the group (Calibration)
    log_likelihood = (
        features.log_likelihood
        + np.log(calibration.unlisted_present) * features.unlisted_present
        + np.log(calibration.unlisted_absent) * features.unlisted_absent
    )
    for group, part in zip(EVIDENCE_GROUPS[1:], _group_parts(features), strict=True):
        log_likelihood = log_likelihood + (calibration.relative_weight(group) - 1.0) * part
    return calibration.posterior(log_likelihood, log_prior)


def fit_calibration(
    data: Features | FloatArray,
    log_prior: FloatArray,
    truth: NDArray[np.int64],
    *,
    pooled: bool = False,
) -> Calibration:
    """The calibration with the least mean log loss (maximum likelihood).

    The log-score ``a log prior + sum_g w_g sum_{f in g} log P + b_p n_p + b_a n_a`` is
    linear in its weights; they and the leak (within :data:`LEAK_RANGE`) are found
    together by L-BFGS on the smooth mean log loss. The exponents ``w_g`` are one per
    evidence group (imaging, presentation, clinical, size) when `data` carries the
    groups' parts, else one for all. The reporting factors are ``exp(b / w)``, ``w``
    the imaging exponent (:class:`Calibration`), fitted only when `data` is
    :class:`Features`.

    Parameters
    ----------
    data : Features or (n, E) ndarray
        :func:`raw_features`, or summed log-likelihoods alone (then the factors stay 1).
    log_prior : (E,) ndarray
        Log prior of every entity.
    truth : (n,) ndarray of int
        Index of each case's true entity.
    pooled : bool
        One reporting factor for the stated values and the stated absences
        (:attr:`Calibration.pooled`): their counts are fitted as one, and both factors of
        the result are it.
    """
    features, with_factors = _as_features(data)
    grouped = with_factors and _grouped(features)
    n, n_entities = features.log_likelihood.shape
    rows = np.arange(n)
    parts = _group_parts(features)
    blocks = [np.broadcast_to(log_prior, (n, n_entities))]
    if grouped:
        blocks += [features.log_likelihood - sum(parts), *parts]
    else:
        blocks += [features.log_likelihood]
    n_exponents = len(blocks) - 1
    if with_factors and pooled:
        blocks += [features.unlisted_present + features.unlisted_absent]
    elif with_factors:
        blocks += [features.unlisted_present, features.unlisted_absent]
    x = np.ascontiguousarray(np.stack(blocks, axis=1))  # (n, k, E)
    x_true = x[rows, :, truth]
    k = x.shape[1]
    # a in [0, 3], each exponent in [0.05, 3], b <= 0 (an unlisted value is never
    # favoured), then the leak
    n_factors = k - 1 - n_exponents
    bounds = [(0.0, 3.0)] + [(0.05, 3.0)] * n_exponents + [(-20.0, 0.0)] * n_factors
    bounds += [LEAK_RANGE]
    start = np.array([1.0] * (1 + n_exponents) + [0.0] * n_factors + [0.005])

    def loss(theta: FloatArray) -> tuple[float, FloatArray]:
        weights, leak = theta[:k], theta[k]
        logits = np.einsum("nkE,k->nE", x, weights)
        logits -= logits.max(axis=1, keepdims=True)
        soft = np.exp(logits)
        soft /= soft.sum(axis=1, keepdims=True)
        s_true = soft[rows, truth]
        p_true = (1.0 - leak) * s_true + leak / n_entities
        # d s_true / d weights = s_true (x_true - E_soft[x]); d p_true / d leak = 1/E - s_true
        d_s = s_true[:, None] * (x_true - np.einsum("nkE,nE->nk", x, soft))
        grad = -((1.0 - leak) * d_s / p_true[:, None]).mean(axis=0)
        grad_leak = -np.mean((1.0 / n_entities - s_true) / p_true)
        return float(-np.mean(np.log(p_true))), np.append(grad, grad_leak)

    result = minimize(loss, start, jac=True, method="L-BFGS-B", bounds=bounds)
    a, *exponents = (float(v) for v in result.x[: 1 + n_exponents])
    factors = [float(v) for v in result.x[1 + n_exponents : k]]
    b_present, b_absent = (factors * 2)[:2] if factors else (0.0, 0.0)
    leak = float(result.x[k])
    w = exponents[0]
    return Calibration(
        exponent=round(w, 4),
        leak=round(leak, 4),
        prior_exponent=round(a, 4),
        # never rounded to 0: a factor is a probability ratio, its log must stay finite
        unlisted_present=max(round(float(np.exp(b_present / w)), 4), FACTOR_MIN),
        unlisted_absent=max(round(float(np.exp(b_absent / w)), 4), FACTOR_MIN),
        presentation_exponent=round(exponents[1], 4) if grouped else None,
        clinical_exponent=round(exponents[2], 4) if grouped else None,
        size_exponent=round(exponents[3], 4) if grouped else None,
        pooled=pooled,
    )


def cross_validate(
    data: Features | FloatArray,
    log_prior: FloatArray,
    truth: NDArray[np.int64],
    *,
    folds: int = 5,
    seed: int = 0,
    groups: Sequence[str] | None = None,
    pooled: bool = False,
) -> tuple[FloatArray, list[Calibration]]:
    """Out-of-fold calibrated posteriors: each fold scored by parameters fitted on the others.

    The folds are `folds` random parts of the cases, or, with `groups` (one label per
    case, e.g. :attr:`LabelledCase.batch`), one fold per group: leave-one-group-out.
    `pooled`: one reporting factor (:func:`fit_calibration`).

    Returns
    -------
    posterior : (n, E) ndarray
        Row i from the calibration fitted without case i's fold.
    fitted : list of Calibration
        The parameters of each fold.
    """
    features, with_factors = _as_features(data)
    n = len(truth)
    order = np.random.default_rng(seed).permutation(n)
    if groups is not None:
        labels = np.asarray(groups)
        parts = [np.flatnonzero(labels == label) for label in sorted(set(labels.tolist()))]
    else:
        parts = np.array_split(order, min(folds, n))
    posterior = np.zeros_like(features.log_likelihood)
    fitted = []
    for fold in parts:
        train = np.setdiff1d(order, fold)
        part = Features(*(array[train] for array in features if array is not None))
        calibration = fit_calibration(
            part if with_factors else part.log_likelihood, log_prior, truth[train], pooled=pooled
        )
        fitted.append(calibration)
        held = Features(*(array[fold] for array in features if array is not None))
        posterior[fold] = calibrated_posterior(held, log_prior, calibration)
    return posterior, fitted


@dataclass(frozen=True)
class Scores:
    """Accuracy and calibration of posteriors against the truth.

    Attributes
    ----------
    n : int
        Cases.
    top1, top3, top5 : float
        Share of cases whose truth ranks first, in the first 3, in the first 5.
    brier : float
        Multi-class Brier score, mean of sum_e (p_e - y_e)^2 (0 best, 2 worst).
    ece : float
        Expected calibration error of the top-1 probability over :data:`N_BINS` bins.
    log_loss : float
        Mean -ln p(truth).
    reliability : list of (low, high, cases, mean probability, accuracy)
        The reliability table of the top-1 probability (non-empty bins).
    """

    n: int
    top1: float
    top3: float
    top5: float
    brier: float
    ece: float
    log_loss: float
    reliability: list[tuple[float, float, int, float, float]]


def score(posterior: FloatArray, truth: NDArray[np.int64]) -> Scores:
    """Score posteriors (n, E) against true entity indices (n,)."""
    n = len(truth)
    rows = np.arange(n)
    p_true = posterior[rows, truth]
    # rank = entities strictly more probable than the truth (ties favour the truth)
    rank = (posterior > p_true[:, None]).sum(axis=1)
    onehot = np.zeros_like(posterior)
    onehot[rows, truth] = 1.0
    top_p = posterior.max(axis=1)
    hit = (rank == 0).astype(float)
    edges = np.linspace(0.0, 1.0, N_BINS + 1)
    table, ece = [], 0.0
    for lo, hi in itertools.pairwise(edges):
        inside = (top_p > lo) & (top_p <= hi) if lo > 0 else (top_p <= hi)
        if inside.any():
            confidence, accuracy = float(top_p[inside].mean()), float(hit[inside].mean())
            ece += float(inside.mean()) * abs(confidence - accuracy)
            table.append((float(lo), float(hi), int(inside.sum()), confidence, accuracy))
    return Scores(
        n=n,
        top1=float(np.mean(rank < 1)),
        top3=float(np.mean(rank < 3)),
        top5=float(np.mean(rank < 5)),
        brier=float(np.mean(((posterior - onehot) ** 2).sum(axis=1))),
        ece=ece,
        log_loss=float(-np.mean(np.log(np.maximum(p_true, 1e-300)))),
        reliability=table,
    )


@dataclass(frozen=True)
class Evaluation:
    """Cross-validated figures of the engine on a labelled set.

    Attributes
    ----------
    cases : list of LabelledCase
        The set.
    truth : (n,) ndarray of int
        Index of each case's true entity.
    uncalibrated : (n, E) ndarray
        Plain naive-Bayes posteriors (nothing fitted).
    cross_validated : (n, E) ndarray
        Out-of-fold calibrated posteriors (:func:`cross_validate`).
    fold_calibrations : list of Calibration
        Parameters fitted on each fold's training part.
    full_calibration : Calibration
        Parameters fitted on the whole set (what ``scale.yaml`` should deploy).
    batch_cross_validated : (n, E) ndarray or None
        Leave-one-batch-out calibrated posteriors (each batch scored by parameters
        fitted on the other batches), when the cases come from two batches or more.
    """

    cases: list[LabelledCase]
    truth: NDArray[np.int64]
    uncalibrated: FloatArray
    cross_validated: FloatArray
    fold_calibrations: list[Calibration]
    full_calibration: Calibration
    batch_cross_validated: FloatArray | None = None

    def scores(
        self,
        *,
        calibrated: bool = True,
        where: NDArray[np.bool_] | None = None,
        by_batch: bool = False,
    ) -> Scores:
        """Scores of the cross-validated (or uncalibrated) posteriors, optionally on a subset.

        `by_batch`: the leave-one-batch-out posteriors instead of the k-fold ones.
        """
        if by_batch and self.batch_cross_validated is None:
            raise ValueError("leave-one-batch-out needs cases from two batches or more")
        posterior = self.cross_validated if calibrated else self.uncalibrated
        if by_batch and self.batch_cross_validated is not None:
            posterior = self.batch_cross_validated
        keep = np.ones(len(self.truth), dtype=bool) if where is None else where
        return score(posterior[keep], self.truth[keep])

    def groups(self) -> list[tuple[str, NDArray[np.bool_]]]:
        """Subsets by modality and by difficulty, as (label, mask), non-empty only."""
        return case_groups(self.cases)


def case_groups(cases: Sequence[LabelledCase]) -> list[tuple[str, NDArray[np.bool_]]]:
    """Subsets of `cases` by modality and by difficulty, as (label, mask), non-empty only."""
    out = []
    for attribute in ("modality", "difficulty"):
        for value in sorted({getattr(item, attribute) for item in cases}):
            mask = np.array([getattr(item, attribute) == value for item in cases])
            out.append((f"{attribute} {value}", mask))
    return out


def evaluate(engine: Engine, cases: Sequence[LabelledCase], *, folds: int = 5) -> Evaluation:
    """Score `engine` on `cases`: uncalibrated, cross-validated, and the full fit.

    Cross-validated k-fold by case and, when the cases come from two files or more,
    leave-one-batch-out (:attr:`Evaluation.batch_cross_validated`).
    """
    features = raw_features(engine, cases)
    log_prior = np.log(engine.model.prior)
    truth = np.array([engine.model.index(item.truth) for item in cases], dtype=np.int64)
    pooled = engine.model.calibration.pooled
    posterior, fitted = cross_validate(features, log_prior, truth, folds=folds, pooled=pooled)
    batches = [item.batch for item in cases]
    by_batch = (
        cross_validate(features, log_prior, truth, groups=batches, pooled=pooled)[0]
        if len(set(batches)) > 1
        else None
    )
    return Evaluation(
        cases=list(cases),
        truth=truth,
        uncalibrated=Calibration().posterior(features.log_likelihood, log_prior),
        cross_validated=posterior,
        fold_calibrations=fitted,
        full_calibration=fit_calibration(features, log_prior, truth, pooled=pooled),
        batch_cross_validated=by_batch,
    )


#: The compile-time settings of ``scale.yaml`` that :func:`fit_scale` selects, each with
#: the values it tries: the floor of an unlisted single value, the share of an entity's
#: cases its typical age and size ranges cover, the ordinal smoothing of extent, the share
#: of a stated finding read as unrelated to the entity (``finding_noise_share``), and the
#: share of deposits read with an indeterminate matrix whatever they are
#: (``unresolved_share``).
SETTINGS: Final = {
    "unlisted_single_value_floor": (0.002, 0.005, 0.01),
    "range_coverage": (0.68, 0.8, 0.9),
    "ordinal_smoothing": (0.0, 0.25, 0.5),
    "finding_noise_share": (0.0, 0.15, 0.3),
    "unresolved_share": (0.02, 0.05, 0.1),
}


class FittedScale(NamedTuple):
    """What :func:`fit_scale` fits: the compile-time settings and the calibration.

    Attributes
    ----------
    settings : dict of str to float
        The selected value of each setting of :data:`SETTINGS`.
    calibration : Calibration
        Fitted on every case, with those settings.
    n_cases : int
        Cases it was fitted on.
    cv_log_loss : dict of tuple to float
        The cross-validated log loss of each combination tried (values in the order
        of :data:`SETTINGS`).
    """

    settings: dict[str, float]
    calibration: Calibration
    n_cases: int
    cv_log_loss: dict[tuple[float, ...], float]


def fit_scale(
    case_paths: Iterable[Path], kb: KnowledgeBase | None = None, *, folds: int = 5
) -> FittedScale:
    """Fit everything ``scale.yaml`` fits on labelled real cases (``calcdx kb fit``).

    The settings of :data:`SETTINGS` change the compiled tables, so they are
    selected by cross-validation: starting from the middle value of every grid,
    each setting in turn takes the value of its grid with the least cross-validated
    log loss, the others held (one pass of coordinate search; each loss comes from
    calibrations fitted without the scored fold). The folds are the case files
    (leave-one-batch-out: the batches were transcribed at different times from
    different sources, as unseen cases are) when there are two files or more, else
    `folds` random parts. The calibration is then refitted on every case with the
    selected settings.

    Parameters
    ----------
    case_paths : iterable of Path
        Labelled case files (``tests/data/real_cases/batch_*.yaml``).
    kb : KnowledgeBase, optional
        The knowledge base (default: the packaged one).
    """
    kb = load_knowledge_base() if kb is None else kb
    names = tuple(SETTINGS)
    cases = load_labelled_cases(case_paths, tuple(e.id for e in kb))
    batches = [item.batch for item in cases]
    groups = batches if len(set(batches)) > 1 else None
    losses: dict[tuple[float, ...], float] = {}
    fits: dict[tuple[float, ...], Calibration] = {}

    def measure(values: tuple[float, ...]) -> float:
        if values not in losses:
            update = dict(zip(names, values, strict=True))
            model = compile_model(dataclasses.replace(kb, scale=kb.scale.model_copy(update=update)))
            features = raw_features(Engine(model), cases)
            log_prior = np.log(model.prior)
            truth = np.array([model.index(item.truth) for item in cases], dtype=np.int64)
            pooled = kb.scale.unlisted_pooled
            posterior, _ = cross_validate(
                features, log_prior, truth, folds=folds, groups=groups, pooled=pooled
            )
            losses[values] = score(posterior, truth).log_loss
            fits[values] = fit_calibration(features, log_prior, truth, pooled=pooled)
        return losses[values]

    # start from the middle of every grid, whatever the knowledge base states, so that
    # the result depends on the cases alone
    current = tuple(grid[len(grid) // 2] for grid in SETTINGS.values())
    for position, name in enumerate(names):
        candidates = [
            (*current[:position], value, *current[position + 1 :]) for value in SETTINGS[name]
        ]
        current = min(candidates, key=measure)
    return FittedScale(dict(zip(names, current, strict=True)), fits[current], len(cases), losses)


def write_fitted_scale(scale_path: Path, fitted: FittedScale, fitted_on: str) -> None:
    """Rewrite the fitted lines of a ``scale.yaml``: the settings and the calibration block.

    Everything else, comments included, is kept as it is; each setting of
    :data:`SETTINGS` must be one top-level line and ``calibration:`` a mapping.
    """
    text = scale_path.read_text("utf-8")
    calibration = fitted.calibration
    block = (
        "calibration:\n"
        f"  prior_exponent: {calibration.prior_exponent:g}\n"
        f"  likelihood_exponent: {calibration.exponent:g}\n"
        + (
            f"  presentation_likelihood_exponent: {calibration.presentation_exponent:g}\n"
            if calibration.presentation_exponent is not None
            else ""
        )
        + (
            f"  clinical_likelihood_exponent: {calibration.clinical_exponent:g}\n"
            if calibration.clinical_exponent is not None
            else ""
        )
        + (
            f"  size_likelihood_exponent: {calibration.size_exponent:g}\n"
            if calibration.size_exponent is not None
            else ""
        )
        + f"  unlisted_present_factor: {calibration.unlisted_present:g}\n"
        f"  unlisted_absent_factor: {calibration.unlisted_absent:g}\n"
        f"  leak: {calibration.leak:g}\n"
        f"  fitted_on: {json.dumps(fitted_on)}\n"
    )
    text, count = re.subn(r"(?m)^calibration:\n(?:[ \t]+.*\n?)*", block, text)
    missing = [] if count == 1 else ["calibration"]
    for name, value in fitted.settings.items():
        text, count = re.subn(rf"(?m)^{name}: .*$", f"{name}: {value:g}", text)
        if count != 1:
            missing.append(name)
    if missing:
        raise ValueError(f"{scale_path.name}: needs exactly one of: {', '.join(missing)}")
    scale_path.write_text(text, "utf-8")


class HeldOut(NamedTuple):
    """Figures on held-out files of everything fitted on development files only.

    Attributes
    ----------
    fitted : FittedScale
        :func:`fit_scale` on the development files.
    cases : list of LabelledCase
        The held-out cases.
    truth : (n,) ndarray of int
        Index of each held-out case's true entity.
    posterior : (n, E) ndarray
        Their posteriors under the development fit.
    """

    fitted: FittedScale
    cases: list[LabelledCase]
    truth: NDArray[np.int64]
    posterior: FloatArray

    def scores(self, where: NDArray[np.bool_] | None = None) -> Scores:
        """Scores on the held-out cases, optionally on a subset."""
        keep = np.ones(len(self.truth), dtype=bool) if where is None else where
        return score(self.posterior[keep], self.truth[keep])


def evaluate_held_out(
    development: Iterable[Path], held_out: Iterable[Path], kb: KnowledgeBase | None = None
) -> HeldOut:
    """Fit on the development files (:func:`fit_scale`), score the held-out files once.

    Nothing about the held-out cases enters the fit, so their figures stand for
    unseen cases (as long as the engine was developed without reading them).
    """
    kb = load_knowledge_base() if kb is None else kb
    fitted = fit_scale(development, kb)
    scale = kb.scale.model_copy(update=fitted.settings)
    model = compile_model(dataclasses.replace(kb, scale=scale))
    cases = load_labelled_cases(held_out, model.entity_ids)
    truth = np.array([model.index(item.truth) for item in cases], dtype=np.int64)
    features = raw_features(Engine(model), cases)
    posterior = calibrated_posterior(features, np.log(model.prior), fitted.calibration)
    return HeldOut(fitted, cases, truth, posterior)
