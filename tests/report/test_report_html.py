"""The HTML report: self-contained, complete, graceful without groups."""

import base64
import copy
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from calcdx.report import (
    MIP_KEY,
    NOT_FOR_CLINICAL_USE,
    ImageOptions,
    key_images,
    render_report,
    write_report,
)
from calcdx.report._format import human, number, reference_link
from calcdx.report._orient import canonical


class _Links(HTMLParser):
    """Collects src/href attributes, noting whether each sits in a references list."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.links: list[tuple[str, str, bool]] = []
        self.tags: set[str] = set()
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        classes = dict(attrs).get("class") or ""
        if tag == "ul":
            self.stack.append(classes)
        for name, value in attrs:
            if name in ("src", "href") and value is not None:
                in_refs = any("references" in c.split() for c in self.stack)
                self.links.append((name, value, in_refs))

    def handle_endtag(self, tag: str) -> None:
        if tag == "ul" and self.stack:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _parse(html: str) -> _Links:
    parser = _Links()
    parser.feed(html)
    return parser


def _png_size(uri: str) -> tuple[int, int]:
    assert uri.startswith("data:image/png;base64,")
    data = base64.b64decode(uri.split(",", 1)[1])
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


@pytest.fixture(scope="module")
def images(analysed):
    groups = {g["id"]: g["lesion_ids"] for g in analysed.document["groups"]}
    return key_images(analysed.volume, analysed.result, groups=groups)


@pytest.fixture(scope="module")
def html(analysed, images) -> str:
    return render_report(analysed.document, images)


def test_html_is_self_contained(html):
    parsed = _parse(html)
    assert not {"script", "link", "iframe", "object"} & parsed.tags
    assert "@import" not in html and "url(http" not in html
    external = [(n, v, refs) for n, v, refs in parsed.links if re.match(r"https?://", v)]
    assert external, "reference links are expected in the differential"
    assert all(name == "href" and refs for name, _, refs in external), external
    sources = [v for n, v, _ in parsed.links if n == "src"]
    assert sources and all(v.startswith("data:image/png;base64,") for v in sources)


def test_html_holds_every_lesion_id_and_the_notice(analysed, html):
    text = " ".join(_parse(html).text)
    assert NOT_FOR_CLINICAL_USE.lower() in text.lower()
    for lesion in analysed.result.lesions:
        assert f'<td class="n"><b>{lesion.id}</b></td>' in html
        assert re.search(rf"\b{lesion.id}\b", text)
    for group in analysed.document["groups"]:
        assert f'id="group-{group["id"]}"' in html
        for item in group["differential"]["differential"][:5]:
            assert item["name"] in text
    assert "&lt;checked &amp; escaped&gt;" in html  # document text is escaped


def test_html_shows_method_contrast_foreign_material_and_totals(analysed, html):
    text = " ".join(_parse(html).text)
    assert "calcdx-agatston/1" in text
    assert "26-connected" in text
    assert "no enhancement detected" in text
    if analysed.result.foreign_material:
        assert "1 object(s) excluded" in text or "object(s) excluded" in text
    assert number(analysed.result.totals.volume_mm3) in text
    assert 'class="redflag"' in html
    assert 'class="bar"' in html


def test_key_images_are_small_pngs(analysed, images):
    options = ImageOptions()
    assert set(images) == {"G1", "G2", MIP_KEY}
    for key in ("G1", "G2"):
        assert _png_size(images[key]) == (options.size_px, options.size_px)
    canon = canonical(analysed.volume.affine, analysed.volume.shape)
    assert _png_size(images[MIP_KEY]) == (options.size_px, options.mip_height_px(canon))
    assert all(len(uri) < 150_000 for uri in images.values())


def test_default_groups_cover_clusters_and_solitary_lesions(analysed):
    images = key_images(analysed.volume, analysed.result,
                        options=ImageOptions(size_px=200, max_groups=3))
    assert MIP_KEY in images
    slices = [k for k in images if k != MIP_KEY]
    assert len(slices) == 3
    assert all(re.fullmatch(r"[CL]\d+", k) for k in slices)
    assert all(_png_size(images[k]) == (200, 200) for k in slices)


def test_report_renders_without_groups(analysed):
    doc = copy.deepcopy(analysed.document)
    for key in ("groups", "case", "differential", "warnings"):
        doc.pop(key)
    images = key_images(analysed.volume, analysed.result, options=ImageOptions(max_groups=2))
    html = render_report(doc, images)
    text = " ".join(_parse(html).text)
    assert "No lesion groups" in text
    assert NOT_FOR_CLINICAL_USE.lower() in text.lower()
    for lesion in analysed.result.lesions:
        assert f'<td class="n"><b>{lesion.id}</b></td>' in html
    assert html.count("data:image/png;base64,") == 3  # projection + 2 ungrouped slices


def test_report_renders_an_empty_document():
    html = render_report({}, {})
    assert NOT_FOR_CLINICAL_USE.lower() in html.lower()
    assert "No calcified lesions were found" in html


def test_write_report_writes_html(analysed, tmp_path: Path):
    files = write_report(analysed.document, analysed.volume, analysed.result, tmp_path / "out")
    assert set(files) == {"report"}
    page = files["report"].read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    assert page.count("data:image/png;base64,") == 3  # G1, G2 and the projection, once each


def test_formatting_helpers():
    assert human("zonal_peripheral") == "zonal peripheral"
    assert human(["a_b", "c"]) == "a b, c"
    assert human(None) == "—"
    assert number(float("nan")) == "—"
    assert number(1234.56) == "1,234.6"
    assert reference_link("Smith J. Title. J 2020;1:2. doi:10.1000/xyz.1") == (
        "https://doi.org/10.1000/xyz.1")
    assert reference_link("Book. https://example.org/page.") == "https://example.org/page"
    assert reference_link("Agatston AS et al. J Am Coll Cardiol 1990;15:827-832") is None


def test_print_layout_details_only_the_leading_diagnoses(analysed, html):
    """report.pdf prints reasons and references for the first PRINT_DETAILED diagnoses."""
    from calcdx.report.html import PRINT_DETAILED, TOP_DIAGNOSES

    assert PRINT_DETAILED < TOP_DIAGNOSES
    blocks = re.findall(r'<div class="dx( minor)?">\s*<div class="dx-head">(\d+)\.', html)
    assert blocks, "no diagnoses rendered"
    for minor, rank in blocks:
        assert bool(minor) == (int(rank) > PRINT_DETAILED), (minor, rank)
    print_css = html.split("@media print", 1)[1].split("</style>", 1)[0]
    assert ".dx.minor .refs" in print_css and "display: none" in print_css
    # the screen still shows everything: no rule hides them outside print
    assert ".dx.minor" not in html.split("@media print", 1)[0]


def test_print_layout_prints_the_dominant_and_largest_groups_and_summarises_the_rest(analysed):
    """With many groups, report.pdf prints PRINT_GROUPS in full (the dominant one, then the
    largest by volume) and one summary row for each other group; the screen shows them all."""
    from calcdx.report.html import PRINT_GROUPS

    doc = copy.deepcopy(analysed.document)
    template = doc["groups"][1]
    volumes = [float(v) for v in (5, 40, 7, 90, 3, 60, 11, 25, 2, 70, 13, 8)]
    doc["groups"] = [doc["groups"][0]]  # G1 is the dominant group (its case is doc["case"])
    doc["groups"][0]["volume_mm3"] = 1.0  # the smallest: printed because it is dominant
    for n, volume in enumerate(volumes, 2):
        group = copy.deepcopy(template) | {"id": f"G{n}", "volume_mm3": volume}
        doc["groups"].append(group)
    assert doc["case"] == doc["groups"][0]["case"]
    page = render_report(doc, {})

    heads = re.findall(r'<div class="group( dominant)?( screen-only)?" id="group-(G\d+)">', page)
    assert [gid for *_, gid in heads] == [g["id"] for g in doc["groups"]]  # screen: all, in order
    printed = {gid for _, hidden, gid in heads if not hidden}
    by_volume = sorted(range(len(volumes)), key=lambda i: -volumes[i])[: PRINT_GROUPS - 1]
    assert printed == {"G1"} | {f"G{i + 2}" for i in by_volume}
    summary = page.split('id="groups-summarised"', 1)[1].split("</table>", 1)[0]
    rows = re.findall(r"<tr><td>(G\d+)</td>", summary)
    assert set(rows) == {g["id"] for g in doc["groups"]} - printed
    assert len(rows) == len(doc["groups"]) - PRINT_GROUPS
    print_css = page.split("@media print", 1)[1].split("</style>", 1)[0]
    assert ".group.screen-only { display: none; }" in print_css
    assert "screen-only" not in page.split("@media print", 1)[0]


def test_print_layout_with_few_groups_prints_them_all(analysed, html):
    assert 'screen-only"' not in html and 'id="groups-summarised"' not in html
