import re
import shutil
from pathlib import Path

import pytest
import yaml

from calcdx.case import load_vocabulary
from calcdx.cli.main import main
from calcdx.errors import KnowledgeBaseError
from calcdx.kb import default_kb_path, load_knowledge_base
from calcdx.kb.schema import SINGLE_VALUED

DATA = Path(__file__).parents[1] / "data"
SPEC = Path(__file__).resolve().parents[3] / "shared" / "spec" / "case-format.md"


def spec_entity_ids() -> list[str]:
    lines = (DATA / "spec_entity_ids.txt").read_text().splitlines()
    return [line for line in lines if line and not line.startswith("#")]


def test_every_spec_entity_is_present():
    kb = load_knowledge_base()
    missing = sorted(set(spec_entity_ids()) - set(kb.entities))
    assert missing == []


@pytest.mark.skipif(not SPEC.exists(), reason="shared spec not beside the clone")
def test_entity_list_matches_the_spec_text():
    text = SPEC.read_text().split("## Entities the knowledge base must hold")[1]
    text = text.split("## What `calcdx ddx` returns")[0]
    assert re.findall(r"`([a-z0-9_]+)`", text) == spec_entity_ids()


def test_every_entry_is_referenced_and_complete():
    kb = load_knowledge_base()
    for entity in kb:
        assert entity.references, entity.id
        assert all(ref.doi or ref.url for ref in entity.references), entity.id
        assert entity.next_steps, entity.id
        assert entity.prior.basis, entity.id


def test_dangerous_entities_are_marked():
    kb = load_knowledge_base()
    for entity_id in ("synovial_sarcoma", "extraskeletal_osteosarcoma", "calciphylaxis"):
        assert kb[entity_id].danger is not None, entity_id


def test_vocabulary_file_matches_spec_when_available():
    if not SPEC.exists():
        pytest.skip("shared spec not beside the clone")
    spec = SPEC.read_text()
    # values calcdx adds to the contract's vocabulary are documented there
    added = (Path(__file__).resolve().parents[2] / "docs" / "case-format-extensions.md"
             ).read_text().split("## Added vocabulary values")[1].split("\n## ")[0]
    vocabulary = load_vocabulary()
    for field in ("pattern", "associated", "clinical", "region", "location", "organ"):
        for value in vocabulary.values(field):
            assert f"`{value}`" in spec or f"| `{field}` | `{value}` |" in added.replace(
                "`imaging.", "`"), (field, value)


@pytest.fixture
def kb_copy(tmp_path: Path) -> Path:
    target = tmp_path / "kb"
    shutil.copytree(default_kb_path(), target)
    return target


def edit_entity(folder: Path, entity_id: str, change) -> Path:
    path = folder / "entities" / f"{entity_id}.yaml"
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            lambda d: d["findings"].__setitem__("pattern", {"zonal": "usual"}),
            r"gout_tophus\.yaml: findings: .*'zonal' is not a pattern value",
        ),
        (
            lambda d: d.pop("references"),
            r"gout_tophus\.yaml: references: required field is missing",
        ),
        (
            lambda d: d["mimics"].append(
                {"id": "no_such_entity", "how_to_tell": "never mind this"}
            ),
            r"gout_tophus\.yaml: mimics\[\d+\]\.id: 'no_such_entity' is not an entity id",
        ),
        (
            lambda d: d["prior"].__setitem__("tier", "frequent"),
            r"gout_tophus\.yaml: prior\.tier: 'frequent'",
        ),
        (
            lambda d: d["findings"]["clinical"].__setitem__("gout", {"p": 0.9, "source": "R999"}),
            r"gout_tophus\.yaml: .*source 'R999' is not a key of this entry's references",
        ),
        (lambda d: d.__setitem__("id", "gout"), r"gout_tophus\.yaml: id: 'gout' differs"),
    ],
)
def test_broken_entry_names_file_field_and_problem(kb_copy, change, expected):
    edit_entity(kb_copy, "gout_tophus", change)
    with pytest.raises(KnowledgeBaseError, match=expected):
        load_knowledge_base(kb_copy)


def test_kb_validate_command(kb_copy, capsys):
    assert main(["kb", "validate"]) == 0
    assert re.match(r"ok: \d+ entities", capsys.readouterr().out)
    (kb_copy / "entities" / "gout_tophus.yaml").write_text("id: [unclosed\n")
    assert main(["kb", "validate", str(kb_copy)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: gout_tophus.yaml: not valid YAML")
    assert err.count("\n") == 1


def test_kb_list_json_and_show(capsys):
    import json

    assert main(["kb", "list", "--json"]) == 0
    items = json.loads(capsys.readouterr().out)
    assert {item["id"] for item in items} >= set(spec_entity_ids())
    assert all({"id", "name", "synonyms", "references", "codes"} <= set(item) for item in items)
    coded = next(item for item in items if item["id"] == "myositis_ossificans")
    assert coded["codes"][0]["code"] == "44551007"
    assert main(["kb", "show", "phlebolith"]) == 0
    assert "Phlebolith" in capsys.readouterr().out
    assert main(["kb", "show", "not_an_entity"]) == 2
    assert "calcdx kb list" in capsys.readouterr().err


def test_single_valued_sum_above_one_fails_validate(kb_copy, capsys):
    # synovial sarcoma's region shares: knee 0.30 + thigh 0.14 + ...; making the thigh
    # "usual" (0.75) pushes the sum to 0.91 - 0.14 + 0.75 = 1.52
    edit_entity(
        kb_copy, "synovial_sarcoma", lambda d: d["findings"]["region"].__setitem__("thigh", "usual")
    )
    assert main(["kb", "validate", str(kb_copy)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: synovial_sarcoma.yaml: findings.region: ")
    assert "sum to 1.52, above 1" in err
    assert err.count("\n") == 1


def test_lab_levels_are_one_distribution(kb_copy):
    edit_entity(
        kb_copy,
        "tumoral_calcinosis_hyperphosphataemic",
        lambda d: d["labs"].__setitem__("phosphate", {"high": "usual", "normal": "often"}),
    )
    with pytest.raises(KnowledgeBaseError, match=r"labs\.phosphate: .* sum to 1\.25, above 1"):
        load_knowledge_base(kb_copy)


def test_multi_valued_values_are_independent(kb_copy):
    # several patterns may each be usual: presence probabilities need not sum to 1
    edit_entity(
        kb_copy,
        "myositis_ossificans",
        lambda d: d["findings"]["pattern"].update({"zonal_peripheral": "usual", "linear": "usual"}),
    )
    assert len(load_knowledge_base(kb_copy)) == len(load_knowledge_base())


def test_packaged_single_valued_fields_are_distributions():
    kb = load_knowledge_base()
    for entity in kb:
        for field in SINGLE_VALUED:
            total = sum(kb.probability(f) for f in getattr(entity.findings, field).values())
            assert total <= 1 + 1e-6, (entity.id, field, total)


def test_listed_shares_reach_the_model_unchanged():
    import dataclasses

    from calcdx.reasoning.model import compile_model

    kb = load_knowledge_base()
    plain = dataclasses.replace(kb, scale=kb.scale.model_copy(update={"finding_noise_share": 0.0}))
    model = compile_model(plain)
    column = model.index("synovial_sarcoma")
    # 17 regions listed (sum 0.91), 9 unlisted at the 0.01 floor: room 0.91, no rescaling
    assert model.categorical[("region", "knee")][column] == pytest.approx(0.30)
    # with the deployed noise share s, the listed share is mixed with the entities' mean
    s = kb.scale.finding_noise_share
    knee = model.categorical[("region", "knee")]
    deployed = compile_model(kb).categorical[("region", "knee")][column]
    assert deployed == pytest.approx((1 - s) * 0.30 + s * knee.mean())
    total = sum(
        model.categorical[("region", v)][column] for v in load_vocabulary().values("region")
    )
    assert total == pytest.approx(1.0)


def test_kb_fit_command_rewrites_the_fitted_block(kb_copy, tmp_path, capsys):
    items = yaml.safe_load(
        (Path(__file__).parents[1] / "data" / "literature_cases.yaml").read_text()
    )
    cases = tmp_path / "batch_t.yaml"
    cases.write_text(yaml.safe_dump(items[::8]))  # 21 cases across the entities
    assert main(["kb", "fit", str(cases), "--kb", str(kb_copy), "--write"]) == 0
    out = capsys.readouterr().out
    fitted = yaml.safe_load((kb_copy / "scale.yaml").read_text())
    calibration = fitted["calibration"]
    assert calibration["fitted_on"].startswith(f"{len(items[::8])} labelled cases (batch_t)")
    names = (
        "unlisted_single_value_floor",
        "range_coverage",
        "ordinal_smoothing",
        "finding_noise_share",
        "unresolved_share",
    )
    assert ", ".join(f"{name} {fitted[name]:g}" for name in names) + "\n" in out
    assert f"prior_exponent {calibration['prior_exponent']:g}," in out
    assert f"leak {calibration['leak']:g}" in out
    # the rewritten folder still loads, with the fitted numbers
    reread = tmp_path / "reread"
    shutil.copytree(kb_copy, reread)
    scale = load_knowledge_base(reread).scale
    assert scale.calibration.likelihood_exponent == calibration["likelihood_exponent"]
    for name in names:
        assert getattr(scale, name) == fitted[name]
