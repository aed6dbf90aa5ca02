"""Property tests: probabilities are a distribution; confirming evidence never lowers."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from calcdx.case import load_vocabulary, parse_case
from calcdx.reasoning import default_engine

VOCAB = load_vocabulary()


def subset(field, max_size=3):
    return st.lists(st.sampled_from(VOCAB.values(field)), max_size=max_size, unique=True)


@st.composite
def cases(draw):
    imaging = {}
    for field in ("region", "location", "matrix", "extent", "evolution"):
        if draw(st.booleans()):
            imaging[field] = draw(st.sampled_from(VOCAB.values(field)))
    imaging["pattern"] = draw(subset("pattern"))
    associated = draw(subset("associated", 4))
    split = draw(st.integers(0, len(associated)))
    imaging["associated"], imaging["associated_absent"] = associated[:split], associated[split:]
    if draw(st.booleans()):
        imaging["size_mm"] = draw(st.floats(1, 400))
    clinical = draw(subset("clinical", 4))
    cut = draw(st.integers(0, len(clinical)))
    case = {
        "format": "calcdx-case/1",
        "imaging": imaging,
        "clinical": clinical[:cut],
        "clinical_absent": clinical[cut:],
    }
    if draw(st.booleans()):
        case["patient"] = {
            "age_years": draw(st.floats(0, 120)),
            "sex": draw(st.sampled_from(["female", "male"])),
        }
    labs = draw(
        st.dictionaries(
            st.sampled_from(VOCAB.values("labs")),
            st.sampled_from(VOCAB.values("lab_level")),
            max_size=3,
        )
    )
    case["labs"] = labs
    return case


@settings(max_examples=150, deadline=None)
@given(cases())
def test_probabilities_sum_to_one(raw):
    result = default_engine().diagnose(parse_case(raw))
    total = sum(result.probabilities.values())
    assert abs(total - 1.0) < 1e-9
    assert all(0.0 <= p <= 1.0 for p in result.probabilities.values())
    listed = [r.probability for r in result.ranked]
    assert listed == sorted(listed, reverse=True)
    assert len(listed) >= 10
    # every entity is ranked, the explained head first, probabilities non-increasing
    assert sorted(result.ranking) == sorted(default_engine().model.entity_ids)
    assert list(result.ranking[: len(listed)]) == [r.entity for r in result.ranked]
    ranked_p = [result.probabilities[e] for e in result.ranking]
    assert ranked_p == sorted(ranked_p, reverse=True)


@settings(max_examples=150, deadline=None)
@given(cases(), st.data())
def test_confirming_finding_never_lowers_its_best_entity(raw, data):
    engine = default_engine()
    model = engine.model
    field = data.draw(st.sampled_from(["pattern", "associated", "clinical"]))
    holder = raw["imaging"] if field in ("pattern", "associated") else raw
    taken = set(holder.get(field, [])) | set(holder.get(f"{field}_absent", []))
    free = [v for v in VOCAB.values(field) if v not in taken]
    value = data.draw(st.sampled_from(free))
    likelihood = model.presence[(field, value)]
    best = np.flatnonzero(likelihood >= likelihood.max())
    before = engine.diagnose(parse_case(raw)).probabilities
    holder[field] = [*holder.get(field, []), value]
    after = engine.diagnose(parse_case(raw)).probabilities
    for index in best:
        entity_id = model.entity_ids[index]
        assert after[entity_id] >= before[entity_id] * (1 - 1e-9)
