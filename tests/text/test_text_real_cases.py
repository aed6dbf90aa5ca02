"""The reader on the held-out real published cases (tests/data/real_cases/).

``text_split.yaml`` there names the files the lexicon was developed on and the
files held out (never read while developing it); these tests use the held-out ones.
Truth: the hand transcription of each description (field agreement) and the
published diagnosis (differential top-3).
"""

from pathlib import Path

import pytest
import yaml

from calcdx.reasoning import default_engine
from calcdx.text import default_reader
from calcdx.text.scoring import TOP3_GAP_TARGET, evaluate_descriptions

REAL = Path(__file__).parents[1] / "data" / "real_cases"
SPLIT = yaml.safe_load((REAL / "text_split.yaml").read_text("utf-8"))
HELD_OUT_FILES = [REAL / name for name in SPLIT["held_out"] if (REAL / name).exists()]
HELD_OUT = [item for p in HELD_OUT_FILES for item in yaml.safe_load(p.read_text("utf-8")) or []]


def test_every_real_case_file_is_development_or_held_out():
    listed = SPLIT["development"] + SPLIT["held_out"]
    assert len(listed) == len(set(listed)), "a file is listed twice in text_split.yaml"
    unlisted = sorted(p.name for p in REAL.glob("batch_*.yaml") if p.name not in listed)
    assert unlisted == [], f"add {unlisted} to tests/data/real_cases/text_split.yaml"


needs_held_out = pytest.mark.skipif(
    not HELD_OUT, reason="no held-out real case file yet (text_split.yaml: held_out)"
)


@pytest.fixture(scope="module")
def result():
    return evaluate_descriptions(default_reader(), default_engine(), HELD_OUT)


@needs_held_out
@pytest.mark.xfail(
    strict=True,
    reason="measured on the 197 held-out cases (batches b, d, f, g): every field group but "
    "patient below precision 0.90 / recall 0.80 (e.g. clinical 0.760/0.728, imaging_where "
    "0.719/0.736, imaging_extent 0.817/0.502, associated 0.724/0.690, clinical_absent "
    "0.667/0.750, evolution 0.350/0.538; labs 1.000/0.780); see BENCHMARKS.md",
)
def test_field_precision_and_recall_on_held_out_cases(result):
    assert result.below_target() == []


@needs_held_out
@pytest.mark.xfail(
    strict=True,
    reason="measured on the 197 held-out cases with the engine as deployed: top-3 from the "
    "text 0.751 against 0.848 from the hand transcription (gap 0.096, target 0.05; 0.731 "
    "against 0.848 before the rules of place rank, organ regions, lesion course and one "
    "lesion read from the history); the 379 development cases 0.839 against 0.918 (gap "
    "0.079); see BENCHMARKS.md",
)
def test_differential_from_text_is_within_005_of_hand_transcription(result):
    assert result.top3_hand - result.top3_text <= TOP3_GAP_TARGET
