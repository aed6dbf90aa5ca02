"""The differential on the development set of real published cases (cross-validated)."""

from pathlib import Path

import numpy as np
import pytest

from calcdx.reasoning import default_engine
from calcdx.reasoning.evaluation import evaluate, load_labelled_cases

REAL = sorted((Path(__file__).parents[1] / "data" / "real_cases").glob("batch_*.yaml"))


@pytest.mark.skipif(not REAL, reason="no real case file (tests/data/real_cases/*.yaml) yet")
def test_top3_on_real_cases_cross_validated(record_property):
    engine = default_engine()
    cases = load_labelled_cases(REAL, engine.model.entity_ids)
    assert len({item.id for item in cases}) == len(cases), "case ids must be unique"
    evaluation = evaluate(engine, cases)
    scores = evaluation.scores()
    record_property("top1", scores.top1)
    record_property("top3", scores.top3)
    record_property("brier", scores.brier)
    print(
        f"real cases: n={scores.n} top-1={scores.top1:.3f} top-3={scores.top3:.3f} "
        f"Brier={scores.brier:.3f} (5-fold cross-validated)"
    )
    # every case is ranked: the truth has a probability, however small
    assert np.all(evaluation.cross_validated[np.arange(scores.n), evaluation.truth] > 0)
    assert scores.top3 >= 0.85
