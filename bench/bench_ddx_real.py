"""The differential on real published cases: top-1/3/5, Brier score, calibration.

Reads every ``tests/data/real_cases/*.yaml`` (the development set; see its
README). The calibration (prior exponent, likelihood exponent, reporting factors
for unlisted values, leak; ``calcdx kb fit``) is what is fitted on the set, so every
figure here is cross-validated, 5-fold by case and leave-one-batch-out (each batch
scored by parameters fitted on the others, as an unseen source would be): each case is
scored with parameters fitted without it (the compile-time settings are the deployed
ones). When
``tests/data/real_cases/ddx_split.yaml`` names development and held-out files, the
settings and calibration are also fitted on the development files alone and the
held-out files scored once with them. The uncalibrated row is plain naive Bayes
(nothing fitted). While the real set is absent, the
literature set (``tests/data/literature_cases.yaml``, written from the
knowledge base's own notes, so optimistic) stands in, and the heading says so.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import yaml

from calcdx.kb.loader import load_knowledge_base
from calcdx.reasoning import default_engine
from calcdx.reasoning.differential import Engine
from calcdx.reasoning.evaluation import (
    Evaluation,
    HeldOut,
    Scores,
    case_groups,
    evaluate,
    evaluate_held_out,
    load_labelled_cases,
)
from calcdx.reasoning.model import Calibration, compile_model

DATA = Path(__file__).parents[1] / "tests" / "data"
FOLDS = 5


def case_files() -> tuple[str, list[Path]]:
    """The development set's files and its name (the literature set when none is present)."""
    real = sorted((DATA / "real_cases").glob("batch_*.yaml"))
    if real:
        return "real published cases (tests/data/real_cases)", real
    return "literature set (stand-in: no real case file yet)", [DATA / "literature_cases.yaml"]


def _params(c: Calibration) -> str:
    return (
        f"{c.prior_exponent:.2f}/{c.exponent:.2f}/{c.group_exponent('presentation'):.2f}/"
        f"{c.group_exponent('clinical'):.2f}/"
        f"{c.group_exponent('size'):.2f}/{c.unlisted_present:.2f}/{c.unlisted_absent:.2f}/"
        f"{c.leak:g}"
    )


def _row(label: str, scores: Scores) -> str:
    return (
        f"| {label} | {scores.n} | {scores.top1:.3f} | {scores.top3:.3f} | {scores.top5:.3f} "
        f"| {scores.brier:.3f} | {scores.ece:.3f} |"
    )


def report(evaluation: Evaluation, name: str, deployed: Calibration) -> list[str]:
    """Markdown lines for one evaluation (`deployed`: the calibration scale.yaml states)."""
    full = evaluation.full_calibration
    folds = "; ".join(_params(c) for c in evaluation.fold_calibrations)
    lines = [
        f"### Accuracy and calibration on the {name}",
        "",
        f"{len(evaluation.cases)} cases; truth = the published diagnosis. Calibrated rows are "
        f"{FOLDS}-fold cross-validated by case (prior exponent/likelihood exponent/presentation "
        f"exponent/clinical exponent/size exponent/unlisted present factor/unlisted absent "
        f"factor/leak fitted per fold: {folds}; on the whole "
        f"set: {_params(full)}). Brier = multi-class Brier score "
        "(0 best, 2 worst); ECE = expected calibration error of the top-1 probability "
        f"(10 bins). Deployed by scale.yaml: {_params(deployed)}.",
        "",
        "| Cases | n | top-1 | top-3 | top-5 | Brier | ECE |",
        "|---|---:|---:|---:|---:|---:|---:|",
        _row("all, uncalibrated naive Bayes", evaluation.scores(calibrated=False)),
        _row("all, calibrated (cross-validated)", evaluation.scores()),
    ]
    for label, mask in evaluation.groups():
        lines.append(_row(f"{label} (cross-validated)", evaluation.scores(where=mask)))
    if evaluation.batch_cross_validated is not None:
        lines.append(_row("all, leave-one-batch-out", evaluation.scores(by_batch=True)))
        for label, mask in evaluation.groups():
            lines.append(
                _row(f"{label} (leave-one-batch-out)", evaluation.scores(where=mask, by_batch=True))
            )
    lines += [
        "",
        "Reliability of the top-1 probability (cross-validated):",
        "",
        "| top-1 probability | cases | mean probability | accuracy |",
        "|---|---:|---:|---:|",
    ]
    for lo, hi, count, confidence, accuracy in evaluation.scores().reliability:
        lines.append(f"| {lo:.1f}-{hi:.1f} | {count} | {confidence:.3f} | {accuracy:.3f} |")
    return [*lines, ""]


def _development_scores(dev: list[Path], result: HeldOut) -> tuple[Scores, Scores]:
    """Cross-validated scores on the development files at the settings fitted there.

    5-fold by case, then leave-one-batch-out.
    """
    kb = load_knowledge_base()
    scale = kb.scale.model_copy(update=result.fitted.settings)
    engine = Engine(compile_model(dataclasses.replace(kb, scale=scale)))
    evaluation = evaluate(engine, load_labelled_cases(dev, engine.model.entity_ids))
    return evaluation.scores(), evaluation.scores(by_batch=True)


def held_out_report(split: dict[str, list[str]]) -> list[str]:
    """Markdown lines: fitted on the development files only, scored on the held-out ones."""
    folder = DATA / "real_cases"
    dev, held = ([folder / name for name in split[key]] for key in ("development", "held_out"))
    result = evaluate_held_out(dev, held)
    settings = ", ".join(f"{name} {value:g}" for name, value in result.fitted.settings.items())
    lines = [
        "### Held-out real cases (fitted on the development files only)",
        "",
        f"The settings and the calibration are fitted (`calcdx kb fit`) on the development "
        f"files ({', '.join(split['development'])}; {result.fitted.n_cases} cases): "
        f"{settings}; calibration {_params(result.fitted.calibration)}. The held-out files "
        f"({', '.join(split['held_out'])}), never read case by case while the engine was "
        "developed (tests/data/real_cases/ddx_split.yaml), are scored once with them.",
        "",
        "| Cases | n | top-1 | top-3 | top-5 | Brier | ECE |",
        "|---|---:|---:|---:|---:|---:|---:|",
        *(
            _row(f"development files, {how}", scores)
            for how, scores in zip(
                ("5-fold cross-validated", "leave-one-batch-out"),
                _development_scores(dev, result),
                strict=True,
            )
        ),
        _row("held-out, all", result.scores()),
    ]
    for label, mask in case_groups(result.cases):
        lines.append(_row(f"held-out, {label}", result.scores(mask)))
    return [*lines, ""]


def run() -> list[str]:
    """Measure and return markdown lines."""
    engine = default_engine()
    name, files = case_files()
    cases = load_labelled_cases(files, engine.model.entity_ids)
    lines = report(evaluate(engine, cases), name, engine.model.calibration)
    split = DATA / "real_cases" / "ddx_split.yaml"
    if split.exists():
        lines += held_out_report(yaml.safe_load(split.read_text("utf-8")))
    return ["## Differential on published cases", "", *lines]


if __name__ == "__main__":
    print("\n".join(run()))
