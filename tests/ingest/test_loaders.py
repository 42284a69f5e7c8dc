"""Loaders on real files: structure, page numbers, clean text and clear refusals."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
from pathlib import Path

import pytest

from ingest.loaders import SUPPORTED_SUFFIXES, LoaderError, discover_files, iter_files, load_file

FIXTURES = Path(__file__).parent / "fixtures"
SAMPLE_CORPUS = Path(__file__).resolve().parents[2] / "data" / "sample"


def blocks_under(document, *path):
    return [b for b in document.blocks if b.heading_path == list(path)]


# --- PDF ---------------------------------------------------------------------


@pytest.fixture
def outlined_pdf(make, tmp_path: Path) -> Path:
    pages = [
        [
            make.heading("Sepsis hos voksne", 20),
            make.heading("Innledning", 16),
            make.body("Sepsis er livstruende organsvikt forårsaket av en dysregulert respons på infeksjon."),
            make.body("Tidlig behandling redder liv."),
        ],
        [
            make.heading("Behandling", 16),
            make.body("Følg disse trinnene:"),
            make.body("- Ta blodkultur"),
            make.body("- Gi antibiotika innen en time"),
            make.heading("Dosering", 13),
            make.body("Benzylpenicillin 3 g x 4 og gentamicin 5 mg/kg x 1."),
        ],
        [make.body("Revurder behandlingen etter 48 timer.")],
    ]
    outline = [("Sepsis hos voksne", 0, 1), ("Innledning", 1, 1), ("Behandling", 1, 2), ("Dosering", 2, 2)]
    return make.pdf(tmp_path / "sepsis.pdf", pages, outline=outline, title="Sepsis hos voksne")


def test_pdf_blocks_keep_page_numbers_and_outline_headings(outlined_pdf: Path, tmp_path: Path):
    document = load_file(outlined_pdf, tmp_path)

    assert document.meta.title == "Sepsis hos voksne"
    assert document.meta.page_count == 3
    intro = blocks_under(document, "Innledning")
    assert [b.page for b in intro] == [1]
    assert "dysregulert respons på infeksjon" in intro[0].text
    assert "Tidlig behandling redder liv." in intro[0].text
    steps = [b for b in blocks_under(document, "Behandling") if b.kind == "list"]
    assert steps and steps[0].page == 2
    assert steps[0].text == "- Ta blodkultur\n- Gi antibiotika innen en time"
    dosing = blocks_under(document, "Behandling", "Dosering")
    assert [b.page for b in dosing] == [2, 3]
    assert "gentamicin 5 mg/kg" in dosing[0].text
    assert dosing[1].text == "Revurder behandlingen etter 48 timer."


def test_pdf_without_outline_takes_headings_from_font_sizes(make, tmp_path: Path):
    pages = [
        [
            make.heading("Hjertestans", 22),
            make.heading("Basal HLR", 16),
            make.body("Start brystkompresjoner umiddelbart."),
        ],
        [
            make.heading("Avansert HLR", 16),
            make.heading("Legemidler", 13),
            make.body("Adrenalin 1 mg hvert fjerde minutt."),
        ],
    ]
    path = make.pdf(tmp_path / "hlr.pdf", pages)

    document = load_file(path, tmp_path)

    assert document.meta.title == "Hjertestans"  # no PDF title: the opening heading
    assert document.outline() == [["Basal HLR"], ["Avansert HLR", "Legemidler"]]
    assert blocks_under(document, "Avansert HLR", "Legemidler")[0].page == 2


def test_pdf_layout_quirks_wrapped_title_list_markers_control_fields_and_footers(make, tmp_path: Path):
    # Lines as layout engines print them: a title wrapped over two lines, list
    # numbers and bullets alone on their line, a running footer with page numbers.
    pages = [
        [
            make.heading("Forebygging av fall hos inneliggende", 20),
            make.heading("pasienter", 20),
            make.body("Dokument-ID: FJ-PRO-0064 · Versjon: 1.3 · Sist oppdatert: 15.08.2025"),
            make.heading("Tiltak", 16),
            make.body("1."),
            make.body("Har pasienten falt?"),
            make.body("2."),
            make.body("Er pasienten redd for å falle?"),
            make.body("•"),
            make.body("Sengen står i laveste stilling."),
            make.body("Fjordbyen sykehus HF – Fall Side 1 av 2"),
            make.body("1"),
        ],
        [
            make.body("Evaluering skjer hver måned."),
            make.body("300"),  # a number inside the page is content, not a page number
            make.body("pasienter ble vurdert i 2024 etter den nye prosedyren for fallforebygging i sengeposten."),
            make.body("Fjordbyen sykehus HF – Fall Side 2 av 2"),
        ],
    ]
    outline = [("Forebygging av fall hos inneliggende pasienter", 0, 1), ("Tiltak", 1, 1)]
    path = make.pdf(tmp_path / "fall.pdf", pages, outline=outline)

    document = load_file(path, tmp_path)

    meta = document.meta
    assert meta.title == "Forebygging av fall hos inneliggende pasienter"
    assert (meta.external_id, meta.version, meta.updated) == ("FJ-PRO-0064", "1.3", dt.date(2025, 8, 15))
    assert [(b.kind, b.heading_path, b.page) for b in document.blocks] == [
        ("list", ["Tiltak"], 1),
        ("text", ["Tiltak"], 2),
        ("text", ["Tiltak"], 2),
    ]
    assert document.blocks[0].text == (
        "1. Har pasienten falt?\n2. Er pasienten redd for å falle?\n- Sengen står i laveste stilling."
    )
    assert document.blocks[2].text.startswith("300 pasienter ble vurdert i 2024 etter")
    assert "Side" not in document.text and "FJ-PRO-0064" not in document.text
    assert not any(line == "1" for line in document.text.splitlines())


def test_pdf_in_one_font_size_has_no_headings(make, tmp_path: Path):
    path = make.pdf(tmp_path / "notat.pdf", [[make.body("Kort notat om smittevern."), make.body("Bruk hansker.")]])

    document = load_file(path, tmp_path)

    assert all(b.heading_path == [] for b in document.blocks)
    assert document.meta.title == "Notat"


def test_pdf_with_only_an_image_is_refused_as_missing_text_layer(make, tmp_path: Path):
    path = make.image_only_pdf(tmp_path / "skannet.pdf")

    with pytest.raises(LoaderError) as caught:
        load_file(path, tmp_path)

    assert "no text" in caught.value.reason and "images only" in caught.value.reason


def test_encrypted_pdf_is_refused(make, outlined_pdf: Path, tmp_path: Path):
    locked = make.encrypted_pdf(outlined_pdf, tmp_path / "låst.pdf", "hemmelig")

    with pytest.raises(LoaderError) as caught:
        load_file(locked, tmp_path)

    assert caught.value.reason == "encrypted PDF"


def test_pdf_encrypted_with_empty_password_opens(make, outlined_pdf: Path, tmp_path: Path):
    protected = make.encrypted_pdf(outlined_pdf, tmp_path / "beskyttet.pdf", "")

    document = load_file(protected, tmp_path)

    assert any("gentamicin" in b.text for b in document.blocks)


@pytest.mark.parametrize("keep", [0.5, 0.1])
def test_truncated_pdf_is_reported_corrupt(outlined_pdf: Path, tmp_path: Path, keep: float):
    data = outlined_pdf.read_bytes()
    broken = tmp_path / "avbrutt.pdf"
    broken.write_bytes(data[: int(len(data) * keep)])

    with pytest.raises(LoaderError) as caught:
        load_file(broken, tmp_path)

    assert caught.value.reason.startswith("corrupt file")


# --- HTML --------------------------------------------------------------------

PAGE = """<!doctype html>
<html lang="nb"><head><title>Hjertestans – Intranett</title><script>var tracking = 1;</script></head>
<body>
<div id="cookie-consent">Vi bruker informasjonskapsler. <button>Godta</button></div>
<header class="site-header"><a href="/">Forsiden</a> Sykehusets intranett</header>
<nav><ul><li>Prosedyrer</li><li>Kontakt</li></ul></nav>
<div class="breadcrumb">Forsiden / Akuttmedisin</div>
<main>
  <h1>Hjertestans hos voksne</h1>
  <p>Start   hjerte-lunge-<b>redning</b> straks.<br>Ring 113.</p>
  <h2>Tiltak</h2>
  <ol><li>Sjekk respons</li><li>Start HLR 30:2<ul><li>Bytt hvert andre minutt</li></ul></li></ol>
  <h3>Legemidler</h3>
  <table>
    <thead><tr><th>Legemiddel</th><th>Dose</th></tr></thead>
    <tbody><tr><td>Adrenalin</td><td>1 mg iv</td></tr><tr><td>Amiodaron</td><td>300 mg iv</td></tr></tbody>
  </table>
  <h2>Etterbehandling</h2>
  <ul><li>Temperaturkontroll</li><li>EKG</li></ul>
  <aside>Se også: Barn</aside>
  <form><label>Søk</label><input name="q"></form>
</main>
<footer>Kontakt IT på 12345</footer>
</body></html>"""


def test_html_keeps_content_and_drops_page_chrome(tmp_path: Path):
    path = tmp_path / "hjertestans.html"
    path.write_text(PAGE, encoding="utf-8")

    document = load_file(path, tmp_path)

    assert document.meta.title == "Hjertestans hos voksne"
    text = document.text
    for chrome in ("informasjonskapsler", "Forsiden", "Prosedyrer", "Kontakt IT", "Se også", "Søk", "tracking"):
        assert chrome not in text
    assert document.blocks[0].heading_path == []  # the h1 is the title, not a path element
    assert document.blocks[0].text == "Start hjerte-lunge-redning straks. Ring 113."
    steps = blocks_under(document, "Tiltak")[0]
    assert steps.kind == "list"
    assert steps.text == "1. Sjekk respons\n2. Start HLR 30:2\n  - Bytt hvert andre minutt"
    table = blocks_under(document, "Tiltak", "Legemidler")[0]
    assert table.kind == "table"
    assert table.text == "Legemiddel: Adrenalin; Dose: 1 mg iv\nLegemiddel: Amiodaron; Dose: 300 mg iv"
    after = blocks_under(document, "Etterbehandling")[0]
    assert after.text == "- Temperaturkontroll\n- EKG"


def test_html_document_control_table_becomes_metadata(tmp_path: Path):
    path = tmp_path / "munnstell.html"
    path.write_text(
        "<html><body><main><h1>Munnstell</h1>"
        '<table class="dokumentinfo"><tr><th>Dokument-ID</th><td>NL-PRS-077</td></tr>'
        "<tr><th>Versjon</th><td>3.0</td></tr><tr><th>Gyldig frå</th><td>01.10.2024</td></tr></table>"
        "<h2>Føremål</h2><p>God munnhygiene førebyggjer sår i munnen.</p>"
        "<table><tr><th>Versjon</th><th>Endring</th></tr><tr><td>3.0</td><td>Ny ROAG-grense</td></tr></table>"
        "</main></body></html>",
        encoding="utf-8",
    )

    document = load_file(path, tmp_path)

    assert (document.meta.external_id, document.meta.version) == ("NL-PRS-077", "3.0")
    assert document.meta.valid_from == dt.date(2024, 10, 1)
    assert "NL-PRS-077" not in document.text
    assert document.blocks[-1].text == "Versjon: 3.0; Endring: Ny ROAG-grense"  # an ordinary table stays


def test_html_without_h1_takes_the_title_element(tmp_path: Path):
    path = tmp_path / "side.htm"
    path.write_text("<html><head><title>Smittevern</title></head><body><p>Vask hendene.</p></body></html>")

    document = load_file(path, tmp_path)

    assert document.meta.title == "Smittevern"
    assert document.text == "Vask hendene."


# --- DOCX --------------------------------------------------------------------


def test_docx_headings_lists_and_tables_in_reading_order(make, tmp_path: Path):
    path = make.docx(
        tmp_path / "prosedyre.docx",
        [
            ("p", "Dokument-ID: EQS-4711"),
            ("p", "Versjon: 3.1"),
            ("p", "Gyldig fra: 01.02.2025"),
            ("p", "Revisjonsfrist: 2027-02-01"),
            ("h1", "Innleggelse av perifert venekateter"),
            ("p", "Prosedyren gjelder alle sengeposter."),
            ("h2", "Utstyr"),
            ("bullet", "Venekateter"),
            ("bullet", "Stasebånd"),
            ("p", "Klargjør utstyret på et rent brett."),
            ("h2", "Valg av kateter"),
            ("table", [["Størrelse", "Farge", "Bruk"], ["18G", "Grønn", "Blodtransfusjon"], ["22G", "Blå", "Barn"]]),
            ("number", "Desinfiser huden"),
            ("number", "Stram stasebåndet"),
        ],
        title="Innleggelse av perifert venekateter",
        modified=dt.datetime(2025, 1, 20, 9, 30),
    )

    document = load_file(path, tmp_path)

    meta = document.meta
    assert meta.title == "Innleggelse av perifert venekateter"
    assert (meta.external_id, meta.version) == ("EQS-4711", "3.1")
    assert meta.valid_from == dt.date(2025, 2, 1) and meta.review_due == dt.date(2027, 2, 1)
    assert meta.updated == dt.date(2025, 1, 20)
    assert "EQS-4711" not in document.text  # control fields are metadata, not content
    kinds = [(b.kind, b.heading_path) for b in document.blocks]
    assert kinds == [
        ("text", []),
        ("list", ["Utstyr"]),
        ("text", ["Utstyr"]),
        ("table", ["Valg av kateter"]),
        ("list", ["Valg av kateter"]),
    ]
    assert document.blocks[1].text == "- Venekateter\n- Stasebånd"
    assert document.blocks[3].text == (
        "Størrelse: 18G; Farge: Grønn; Bruk: Blodtransfusjon\nStørrelse: 22G; Farge: Blå; Bruk: Barn"
    )
    assert document.blocks[4].text == "1. Desinfiser huden\n2. Stram stasebåndet"


def test_docx_metadata_table_in_nynorsk(make, tmp_path: Path):
    path = make.docx(
        tmp_path / "rutine.docx",
        [
            (
                "table",
                [
                    ["Dokument-ID", "D-88"],
                    ["Versjon", "2"],
                    ["Gyldig frå", "15.03.2024"],
                    ["Revisjonsfrist", "15.03.2026"],
                    ["Godkjent av", "Fagdirektør"],  # not a field we keep: ignored, table still recognised
                    ["Utgjevar", "Nordlia sjukehus"],
                ],
            ),
            ("title", "Handhygiene"),
            ("p", "Alle tilsette skal utføre handhygiene før og etter pasientkontakt."),
        ],
    )

    document = load_file(path, tmp_path)

    assert document.meta.title == "Handhygiene"
    assert document.meta.external_id == "D-88"
    assert document.meta.valid_from == dt.date(2024, 3, 15)
    assert document.meta.review_due == dt.date(2026, 3, 15)
    assert document.meta.publisher == "Nordlia sjukehus"
    assert document.meta.language == "nn"
    assert "Fagdirektør" not in document.text
    assert [b.heading_path for b in document.blocks] == [[]]


def test_corrupt_docx_is_refused(make, tmp_path: Path):
    good = make.docx(tmp_path / "ok.docx", [("p", "Tekst.")])
    broken = tmp_path / "ødelagt.docx"
    broken.write_bytes(good.read_bytes()[:300])

    with pytest.raises(LoaderError) as caught:
        load_file(broken, tmp_path)

    assert caught.value.reason.startswith("corrupt file")


# --- Markdown and text -------------------------------------------------------

MARKDOWN = """---
title: Pneumoni hos voksne
publisher: Medisinsk klinikk
doc_type: prosedyre
updated: 2025-03-01
version: 2.0
tags: [lunge, infeksjon]
---
# Pneumoni hos voksne

Vurder **CURB-65** ved mistenkt pneumoni.
Skåren styrer behandlingsnivå.

## Antibiotika

| CURB-65 | Behandling |
|---------|------------|
| 0-1     | Fenoksymetylpenicillin po |
| 2       | Benzylpenicillin iv |

1. Ta blodkultur
2. Start antibiotika

### Allergi

- Ved penicillinallergi: se [tabell](https://example.org)
"""


def test_markdown_front_matter_headings_lists_and_pipe_tables(tmp_path: Path):
    path = tmp_path / "pneumoni.md"
    path.write_text(MARKDOWN, encoding="utf-8")

    document = load_file(path, tmp_path)

    meta = document.meta
    assert (meta.title, meta.publisher, meta.doc_type, meta.version) == (
        "Pneumoni hos voksne", "Medisinsk klinikk", "prosedyre", "2.0"
    )  # fmt: skip
    assert meta.updated == dt.date(2025, 3, 1)
    assert document.blocks[0].heading_path == []
    assert document.blocks[0].text == "Vurder CURB-65 ved mistenkt pneumoni. Skåren styrer behandlingsnivå."
    table, steps = blocks_under(document, "Antibiotika")
    assert table.kind == "table"
    assert table.text == (
        "CURB-65: 0-1; Behandling: Fenoksymetylpenicillin po\nCURB-65: 2; Behandling: Benzylpenicillin iv"
    )
    assert steps.text == "1. Ta blodkultur\n2. Start antibiotika"
    assert blocks_under(document, "Antibiotika", "Allergi")[0].text == "- Ved penicillinallergi: se tabell"


def test_text_is_normalised(tmp_path: Path):
    path = tmp_path / "notat.txt"
    decomposed = "Blodtrykksma\u030aling"  # 'å' as a + combining ring
    path.write_text(f"Behand\u00adling   av\u200b {decomposed}\n\n\ufeffNytt  avsnitt.", encoding="utf-8")

    document = load_file(path, tmp_path)

    assert [b.text for b in document.blocks] == ["Behandling av Blodtrykksmåling", "Nytt avsnitt."]


def test_windows_1252_text_file_is_read(tmp_path: Path):
    path = tmp_path / "gammel.txt"
    path.write_bytes("Sjekk blodsukker før måltid hos pasienter med diabetes.".encode("cp1252"))

    document = load_file(path, tmp_path)

    assert document.text == "Sjekk blodsukker før måltid hos pasienter med diabetes."


# --- Helsedirektoratet JSON --------------------------------------------------


def hapi_nodes() -> list[dict]:
    text = (FIXTURES / "hapi_sepsis_nodes.json").read_text(encoding="utf-8")
    return json.loads(text.replace("{base}", "https://api.helsedirektoratet.no/innhold"))


def test_hapi_guideline_tree_recommendations_and_metadata(tmp_path: Path):
    path = tmp_path / "sepsis.json"
    path.write_text(json.dumps(hapi_nodes(), ensure_ascii=False), encoding="utf-8")

    document = load_file(path, tmp_path)

    meta = document.meta
    assert meta.title == "Sepsis hos voksne"
    assert meta.publisher == "Helsedirektoratet" and meta.doc_type == "retningslinje"
    assert meta.url == "https://www.helsedirektoratet.no/retningslinjer/sepsis-hos-voksne"
    assert meta.updated == dt.date(2024, 5, 2)
    assert meta.external_id == "5b1c0a52-0000-4000-8000-000000000001"
    assert "NLOD" in meta.credit
    assert document.outline() == [
        [],
        ["Tidlig identifisering"],
        ["Tidlig identifisering", "Tegn på organsvikt"],
        ["Tidlig identifisering", "Bruk NEWS2 for å oppdage forverring hos pasienter med infeksjon"],
        ["Behandling"],
        ["Behandling", "Gi bredspektret antibiotika innen én time ved sepsis med sjokk"],
        ["Behandling", "Vurder laktatmåling ved mistenkt sepsis"],
    ]
    recommendations = [b for b in document.blocks if b.kind == "recommendation"]
    assert len(recommendations) == 3
    antibiotics = recommendations[1].text.splitlines()
    assert antibiotics[0] == "Gi bredspektret antibiotika innen én time ved sepsis med sjokk"
    assert "Styrke: sterk" in antibiotics
    assert "Praktisk: Ta blodkultur først dersom det ikke forsinker behandlingen." in antibiotics
    assert "Rasjonale: Hver times forsinkelse øker dødeligheten ved septisk sjokk." in antibiotics
    assert "Styrke: svak" in recommendations[2].text
    table = next(b for b in document.blocks if b.kind == "table")
    assert table.text == "Tiltak: Blodkultur; Tidsfrist: Før antibiotika\nTiltak: Antibiotika; Tidsfrist: Innen 1 time"


def test_hapi_parent_links_and_other_file_shapes_give_the_same_tree(tmp_path: Path):
    reference_path = tmp_path / "referanse.json"
    reference_path.write_text(json.dumps(hapi_nodes()), encoding="utf-8")
    reference = load_file(reference_path, tmp_path)

    only_parents = hapi_nodes()
    for node in only_parents:
        node["links"] = [link for link in node["links"] if link["rel"] == "forelder"]
    # Parents after their children, the top node in the middle; siblings keep their relative order.
    shuffled = [only_parents[i] for i in (4, 1, 2, 0, 5, 3)]
    wrapped = tmp_path / "innpakket.json"
    wrapped.write_text(json.dumps({"nodes": shuffled}), encoding="utf-8")

    assert load_file(wrapped, tmp_path).outline() == reference.outline()


def test_hapi_single_node_and_file_order_without_links(tmp_path: Path):
    nodes = hapi_nodes()
    for node in nodes:
        node["links"] = []
    flat = tmp_path / "flat.json"
    flat.write_text(json.dumps(nodes), encoding="utf-8")
    single = tmp_path / "enkelt.json"
    single.write_text(json.dumps(nodes[2]), encoding="utf-8")

    flat_outline = load_file(flat, tmp_path).outline()
    single_document = load_file(single, tmp_path)

    assert flat_outline[1:3] == [["Tidlig identifisering"], ["Tidlig identifisering", "Tegn på organsvikt"]]
    assert flat_outline[3] == ["Bruk NEWS2 for å oppdage forverring hos pasienter med infeksjon"]
    assert [b.kind for b in single_document.blocks] == ["recommendation"]
    assert single_document.meta.doc_type == "anbefaling"


def test_json_that_is_not_hapi_is_refused(tmp_path: Path):
    path = tmp_path / "innstillinger.json"
    path.write_text('{"theme": "dark"}')
    broken = tmp_path / "halv.json"
    broken.write_text('[{"tittel": "Sepsis"')

    with pytest.raises(LoaderError, match="not a Helsedirektoratet"):
        load_file(path, tmp_path)
    with pytest.raises(LoaderError, match="corrupt file: not valid JSON"):
        load_file(broken, tmp_path)


# --- bad input in general ----------------------------------------------------


@pytest.mark.parametrize("suffix", sorted(SUPPORTED_SUFFIXES))
def test_empty_file_of_every_type(tmp_path: Path, suffix: str):
    path = tmp_path / f"tom{suffix}"
    path.write_bytes(b"")

    with pytest.raises(LoaderError) as caught:
        load_file(path, tmp_path)

    assert caught.value.reason == "empty file"
    assert caught.value.path == path


@pytest.mark.parametrize(
    ("name", "content"),
    [("bare-nav.html", "<html><body><nav>Meny</nav></body></html>"), ("bare-front-matter.md", "---\ntitle: X\n---\n")],
)
def test_files_without_content_are_refused(tmp_path: Path, name: str, content: str):
    path = tmp_path / name
    path.write_text(content)

    with pytest.raises(LoaderError, match="no text content"):
        load_file(path, tmp_path)


def test_unreadable_paths(tmp_path: Path):
    dangling = tmp_path / "borte.pdf"
    dangling.symlink_to(tmp_path / "finnes-ikke.pdf")
    folder = tmp_path / "mappe.docx"
    folder.mkdir()

    with pytest.raises(LoaderError) as missing:
        load_file(dangling, tmp_path)
    with pytest.raises(LoaderError) as directory:
        load_file(folder, tmp_path)

    assert missing.value.reason.startswith("cannot be read")
    assert directory.value.reason.startswith("cannot be read")


def test_unknown_suffix(tmp_path: Path):
    path = tmp_path / "regneark.xlsx"
    path.write_bytes(b"PK\x03\x04 noe")

    with pytest.raises(LoaderError) as caught:
        load_file(path, tmp_path)

    assert caught.value.reason == "unknown file type"


def test_garbage_with_a_pdf_name_is_corrupt(tmp_path: Path):
    path = tmp_path / "ikke-pdf.pdf"
    path.write_bytes(b"Dette er ikke en PDF, bare tekst med feil endelse.\n" * 20)

    with pytest.raises(LoaderError) as caught:
        load_file(path, tmp_path)

    assert caught.value.reason.startswith("corrupt file")


# --- identity and file discovery ---------------------------------------------


def test_doc_id_source_path_and_hash_follow_metadata_edits(tmp_path: Path):
    folder = tmp_path / "kirurgi" / "ortopedi"
    folder.mkdir(parents=True)
    path = folder / "gips.md"
    path.write_text("# Gips\n\nKontroller sirkulasjonen etter gipsing.\n", encoding="utf-8")

    first = load_file(path, tmp_path)
    sidecar = folder / "gips.md.meta.yaml"
    sidecar.write_text("version: '2'\n", encoding="utf-8")
    with_sidecar = load_file(path, tmp_path)
    (tmp_path / "kirurgi" / "_mappe.yaml").write_text("publisher: Kirurgisk klinikk\n", encoding="utf-8")
    with_defaults = load_file(path, tmp_path)

    assert first.meta.doc_id == "file:kirurgi/ortopedi/gips.md"
    assert first.meta.source_path == str(path)
    assert first.content_hash == hashlib.sha256(path.read_bytes()).hexdigest()
    assert len({first.content_hash, with_sidecar.content_hash, with_defaults.content_hash}) == 3
    assert load_file(path, tmp_path).content_hash == with_defaults.content_hash


def test_iter_files_lists_supported_files_sorted(tmp_path: Path):
    for name in ["b/z.pdf", "b/a.docx", "a.md", "_mappe.yaml", "a.md.meta.yaml", "b/_mappe.yaml", "c.xlsx",
                 ".skjult/x.md", "b/.utkast.md", "b/~$a.docx", "d/notat.TXT", "e.json", "f.htm"]:  # fmt: skip
        target = tmp_path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text("x")
    (tmp_path / "mappe.pdf").mkdir()
    (tmp_path / "_bibliotek.yaml").write_text("")
    (tmp_path / "lenke.pdf").symlink_to(tmp_path / "borte.pdf")  # not listed: reported with a reason

    found = [p.relative_to(tmp_path).as_posix() for p in iter_files(tmp_path)]
    discovery = discover_files(tmp_path)

    assert found == ["a.md", "b/a.docx", "b/z.pdf", "d/notat.TXT", "e.json", "f.htm"]
    assert discovery.files == [tmp_path / name for name in found]
    assert [(p.name, reason) for p, reason in discovery.skipped] == [
        ("lenke.pdf", "broken link: its target does not exist")
    ]


def test_sample_corpus_loads_without_errors(tmp_path: Path):
    if not SAMPLE_CORPUS.is_dir() or not any(iter_files(SAMPLE_CORPUS)):
        pytest.skip("data/sample/ is not there yet")
    copy = tmp_path / "sample"
    shutil.copytree(SAMPLE_CORPUS, copy)

    documents = [load_file(path, copy) for path in iter_files(copy)]

    assert documents
    for document in documents:
        assert document.blocks, document.meta.doc_id
        assert document.meta.title, document.meta.doc_id
        assert document.meta.access_groups, document.meta.doc_id
