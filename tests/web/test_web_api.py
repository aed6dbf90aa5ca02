import json

from calcdx.cli.main import main

from .conftest import BAD_CASE, CASE


def test_ddx_returns_the_differential_format(client):
    response = client.post("/api/ddx", json=CASE)
    assert response.status_code == 200
    result = response.json()
    assert result["format"] == "calcdx-differential/1"
    assert result["case_id"] == "c1"
    assert result["differential"][0]["entity"] == "uraemic_tumoral_calcinosis"
    assert len(result["differential"]) >= 10
    assert {"field", "value", "why"} <= set(result["next_findings"][0])


def test_ddx_matches_the_cli(client, tmp_path, capsys):
    path = tmp_path / "c.json"
    path.write_text(json.dumps(CASE))
    assert main(["ddx", "--json", str(path)]) == 0
    assert client.post("/api/ddx", json=CASE).json() == json.loads(capsys.readouterr().out)


def test_invalid_case_is_422_with_the_cli_message(client, tmp_path, capsys):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(BAD_CASE))
    assert main(["ddx", str(path)]) == 2
    cli_line = capsys.readouterr().err.strip()
    response = client.post("/api/ddx", json=BAD_CASE)
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert "\n" not in detail
    assert cli_line == f"error: bad.json: {detail}"
    assert "zonal_peripheral" in detail  # lists the allowed values


def test_case_that_is_not_an_object_is_422(client):
    response = client.post("/api/ddx", json=[1, 2])
    assert response.status_code == 422
    assert response.json()["detail"].startswith("a case must be a JSON object")


def test_body_that_is_not_json_is_400(client):
    response = client.post(
        "/api/ddx", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert "not valid JSON" in response.json()["detail"]


def test_large_case_body_is_413(client):
    response = client.post(
        "/api/ddx", content=b" " * (2 * 1024 * 1024), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413


def test_kb_list_and_search(client):
    everything = client.get("/api/kb").json()
    assert len(everything) >= 100
    assert {"id", "name", "synonyms", "mechanism", "references"} <= set(everything[0])
    found = client.get("/api/kb", params={"q": "circumscripta"}).json()  # a synonym
    assert [item["id"] for item in found] == ["myositis_ossificans"]
    assert client.get("/api/kb", params={"q": "no-such-thing"}).json() == []


def test_kb_entity(client):
    entity = client.get("/api/kb/myositis_ossificans").json()
    assert entity["id"] == "myositis_ossificans"
    references = entity["references"]
    assert references and all(ref["doi"] or ref["url"] for ref in references)
    assert any((ref["doi"] or "").startswith("10.") for ref in references)
    assert entity["mimics"]


def test_unknown_entity_is_404_with_a_message(client):
    response = client.get("/api/kb/not_an_entity")
    assert response.status_code == 404
    assert response.json() == {
        "detail": "no entity 'not_an_entity' in the knowledge base; GET /api/kb lists the ids"
    }


def test_openapi_documents_every_route(client):
    schema = client.get("/openapi.json").json()
    paths = schema["paths"]
    assert set(paths) == {
        "/api/ddx",
        "/api/parse",
        "/api/kb",
        "/api/kb/{entity_id}",
        "/api/studies",
        "/api/jobs/{job_id}",
        "/api/studies/{job_id}/result",
        "/api/studies/{job_id}/slices/{k}.png",
    }
    body = paths["/api/ddx"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert (
        "zonal_peripheral"
        in body["properties"]["imaging"]["properties"]["pattern"]["items"]["enum"]
    )
    assert "422" in paths["/api/ddx"]["post"]["responses"]
    png = paths["/api/studies/{job_id}/slices/{k}.png"]["get"]["responses"]["200"]["content"]
    assert list(png) == ["image/png"]


def test_unknown_route_is_404(client):
    assert client.get("/api/nothing").status_code == 404


def test_ddx_ranks_every_entity_as_documented(client):
    from calcdx.kb import load_knowledge_base
    from calcdx.web.schemas import DifferentialOut

    case = {"format": "calcdx-case/1", "imaging": {"region": "thigh", "matrix": "ossification"}}
    body = client.post("/api/ddx", json=case).json()
    out = DifferentialOut.model_validate(body)  # the documented response model
    ids = [entity.id for entity in load_knowledge_base()]
    assert sorted(item.entity for item in out.ranking) == sorted(ids)
    probabilities = [item.probability for item in out.ranking]
    assert probabilities == sorted(probabilities, reverse=True)
    assert abs(sum(probabilities) - 1) < 1e-6
