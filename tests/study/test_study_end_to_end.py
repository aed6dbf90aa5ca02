"""Images to diagnosis: planted phantom lesions with a clinical context reach the right entity."""

from collections import Counter

import numpy as np
import pytest

from calcdx.analysis import analyze_volume
from calcdx.case.context import build_context
from calcdx.errors import CaseError
from calcdx.findings.derive import derive_groups
from calcdx.phantom import make_phantom
from calcdx.study import diagnose_groups

_BONE_XFAIL = (
    "the phantom's zonal_rim mass holds about 3,600 mm^3 of mineral, more than BoneConfig.min_v"
    "olume_mm3 (1000 mm^3, a 20 mm rib segment): bone_mask, which no longer uses the 900 HU cor"
    "tical seed tuned on this phantom, takes it as bone"
)


@pytest.fixture(scope="module")
def analysed():
    phantom = make_phantom()
    result = analyze_volume(phantom.volume)
    groups = derive_groups(result)
    kinds = {lesion.id: lesion.kind for lesion in phantom.truth}
    planted = {}
    for group in groups:
        voxels = np.isin(result.label_map, group.lesion_ids)
        ids = Counter(phantom.labels[voxels].tolist())
        ids.pop(0, None)
        if ids:
            planted[group.id] = kinds[ids.most_common(1)[0][0]]
    return groups, planted


def group_of(analysed, kind):
    groups, planted = analysed
    matches = [g for g in groups if planted.get(g.id) == kind]
    assert matches, f"no lesion group found for the planted {kind}"
    return max(matches, key=lambda g: g.volume_mm3)


def ranking(group, **context):
    _, (differential,) = diagnose_groups([group], build_context(**context))
    return [item.entity for item in differential.ranked]


def test_zonal_intramuscular_with_trauma_is_myositis_ossificans(analysed):
    groups, planted = analysed
    zonal = [
        g
        for g in groups
        if planted.get(g.id) == "zonal_rim" and g.imaging.get("location") == "muscle"
    ]
    assert zonal
    assert "myositis_ossificans" in ranking(zonal[0], age_years=24, history=["trauma_recent"])[:3]


def test_rice_grains_with_endemic_taenia_are_cysticercosis(analysed):
    group = group_of(analysed, "rice_grain_cluster")
    assert ranking(group, age_years=40, history=["endemic_taenia"])[0] == "cysticercosis"


def test_lobulated_periarticular_with_dialysis_is_uraemic_tumoral_calcinosis(analysed):
    group = group_of(analysed, "lobulated_periarticular_cluster")
    # the deposit as a whole lies around the joint, though most lobules see one bone only
    assert group.imaging["location"] == "periarticular"
    assert "a deposit around a joint" in group.derivation["location"].evidence
    top3 = ranking(group, age_years=55, history=["dialysis", "chronic_kidney_disease"])[:3]
    assert "uraemic_tumoral_calcinosis" in top3


def test_serpiginous_subcutaneous_with_endemic_dracunculus_is_dracunculiasis(analysed):
    group = group_of(analysed, "serpiginous_linear")
    assert ranking(group, age_years=45, history=["endemic_dracunculus"])[0] == "dracunculiasis"


def test_aortic_plaques_on_plain_ct_in_an_older_patient_are_atherosclerosis(analysed):
    groups, planted = analysed
    (group,) = [g for g in groups if planted.get(g.id) == "vessel_wall_plaques"]
    assert len(group.lesion_ids) == 3  # one finding, though the plaques are 10 mm apart
    assert group.imaging["pattern"] == ["patchy_plaque"]  # not also sheet_like
    assert group.imaging["location"] == "artery"
    assert group.imaging["arrangement"] == ["along_vessel"]
    ranked = ranking(group, age_years=72, sex="male", history=["diabetes"])
    assert ranked[0] == "atherosclerotic_calcification"


def test_every_group_states_only_vocabulary_values_with_evidence(analysed):
    groups, _ = analysed
    for group in groups:
        for derived in group.derivation.values():
            assert 0 <= derived.confidence <= 1 and derived.evidence


def test_bad_context_gets_the_ddx_errors():
    with pytest.raises(CaseError, match=r"labs\.calcium: 'hi' is not an allowed value"):
        build_context(labs=["calcium=hi"])
    with pytest.raises(CaseError, match=r"clinical\[0\]: 'trauma' is not an allowed value"):
        build_context(history=["trauma"])
    with pytest.raises(CaseError, match="name=level"):
        build_context(labs=["calcium"])
