"""The differential on real published cases: top-1/3/5, Brier score, calibration.

Reads every ``tests/data/real_cases/*.yaml`` (the development set; see its
README). The calibration (prior exponent, likelihood exponent, reporting factors
for unlisted values, leak; ``calcdx kb fit``) is what is fitted on the set, so every
figure here is 5-fold cross-validated by case: each case is scored with parameters
fitted on the other folds (the range coverage is the deployed one). The uncalibrated row
is plain naive Bayes (nothing fitted). While the real set is absent, the
literature set (``tests/data/literature_cases.yaml``, written from the
knowledge base's own notes, so optimistic) stands in, and the heading says so.
"""

from __future__ import annotations

from pathlib import Path

from calcdx.reasoning import default_engine
from calcdx.reasoning.evaluation import Evaluation, Scores, evaluate, load_labelled_cases
from calcdx.reasoning.model import Calibration

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
        f"{c.prior_exponent:.2f}/{c.exponent:.2f}/{c.unlisted_present:.2f}/"
        f"{c.unlisted_absent:.2f}/{c.leak:g}"
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
        f"{FOLDS}-fold cross-validated by case (prior exponent/likelihood exponent/unlisted "
        f"present factor/unlisted absent factor/leak fitted per fold: {folds}; on the whole "
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


def run() -> list[str]:
    """Measure and return markdown lines."""
    engine = default_engine()
    name, files = case_files()
    cases = load_labelled_cases(files, engine.model.entity_ids)
    lines = report(evaluate(engine, cases), name, engine.model.calibration)
    return ["## Differential on published cases", "", *lines]


if __name__ == "__main__":
    print("\n".join(run()))
