import re

from calcdx.case.vocabulary import load_vocabulary

from .conftest import BAD_CASE, CASE


def test_form_holds_every_vocabulary_value(client):
    page = client.get("/")
    assert page.status_code == 200
    html = page.text
    vocabulary = load_vocabulary()
    for field in ("region", "location", "organ", "matrix", "extent", "evolution", "modality"):
        for value in vocabulary.values(field):
            assert f'<option value="{value}">' in html, (field, value)
    for field in ("pattern", "arrangement"):
        for value in vocabulary.values(field):
            assert f'name="imaging.{field}" value="{value}"' in html
    for value in vocabulary.values("clinical"):
        assert f'name="clinical:{value}" value="absent"' in html
    for value in vocabulary.values("associated"):
        assert f'name="imaging.associated:{value}" value="present"' in html
    for lab in vocabulary.values("labs"):
        assert f'name="labs.{lab}" value="high"' in html
    assert 'name="patient.age_years"' in html and 'name="patient.sex"' in html


def test_form_groups_follow_the_reading_order(client):
    html = client.get("/").text
    titles = re.findall(r'<span class="title">([^<]+)</span>', html)
    assert titles == [
        "Where",
        "What it looks like",
        "How many",
        "Patient",
        "History",
        "Labs",
        "Associated findings",
        "Evolution",
    ]


def test_every_control_has_a_label(client):
    html = client.get("/").text
    for dom_id in re.findall(r'<(?:select|input) id="([^"]+)"', html):
        assert f'for="{dom_id}"' in html, dom_id


def test_page_uses_only_local_assets_and_a_strict_policy(client):
    page = client.get("/")
    assert not re.search(r"<(script|link|img|iframe)[^>]+(src|href)=\"(https?:)?//", page.text)
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "default-src 'self'" in policy
    assert client.get("/static/calcdx.js").status_code == 200
    assert client.get("/static/calcdx.css").status_code == 200
    assert client.get("/static/studies.js").status_code == 200


def test_differential_fragment(client):
    response = client.post("/ui/differential", json=CASE)
    assert response.status_code == 200
    html = response.text
    assert "Uraemic" in html
    assert "<meter" in html and 'class="add-finding"' in html
    assert 'href="/kb/uraemic_tumoral_calcinosis"' in html


def test_differential_fragment_shows_the_cli_message(client):
    response = client.post("/ui/differential", json=BAD_CASE)
    assert response.status_code == 422
    assert "imaging.pattern[0]: &#39;zonal&#39; is not an allowed value" in response.text


def test_kb_search_page(client):
    html = client.get("/kb", params={"q": "circumscripta"}).text
    assert 'href="/kb/myositis_ossificans"' in html
    assert "1 of" in html
    assert 'href="/kb/phlebolith"' not in html


def test_kb_entity_page(client):
    html = client.get("/kb/myositis_ossificans").text
    assert "Typical findings" in html and "zonal peripheral" in html
    assert 'href="/kb/extraskeletal_osteosarcoma"' in html  # a linked mimic
    assert 'href="https://doi.org/10.1302/2058-5241.6.210002"' in html
    assert "Red flags" in html and "Next steps" in html


def test_kb_unknown_entity_page_is_404(client):
    response = client.get("/kb/not_an_entity")
    assert response.status_code == 404
    assert "no entity &#39;not_an_entity&#39;" in response.text


def test_studies_pages(client):
    assert client.get("/studies").status_code == 200
    assert client.get("/studies/nope").status_code == 404
