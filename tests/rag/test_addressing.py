"""Whether a text answers the question: the signals that rank quote sentences."""

from __future__ import annotations

from rag.addressing import addresses, band_fit, code_in, intent_met, profile
from rag.text import analyze


def test_a_patient_value_is_matched_to_the_band_that_holds_it():
    ciwa = profile("ciwa 17 hva gir jeg")
    assert ciwa.values == (17.0,)
    assert band_fit(ciwa.values, "16–20 Alvorlig abstinens. Diazepam 20 mg p.o.") == 1.0
    assert band_fit(ciwa.values, "10–15 Moderat abstinens. Diazepam 10 mg p.o.") == 0.0
    assert band_fit(ciwa.values, "over 20: tilsyn av lege straks") == 0.0
    assert band_fit(ciwa.values, "Skår 17 eller høyere: ring lege") == 1.0
    assert band_fit(ciwa.values, "under 10: ikke legemiddel") == 0.0
    # A text with no band says nothing either way; nor does a question with no value.
    assert band_fit(ciwa.values, "Diazepam gis p.o. etter tabellen.") is None
    assert band_fit(profile("hva gir jeg ved abstinens").values, "16–20 Alvorlig abstinens") is None


def test_a_score_name_with_a_digit_is_not_a_patient_value():
    assert profile("NEWS2 5 og feber, hvor fort skal lege se pas?").values == (5.0,)
    assert profile("anafylaksi barn 8 år").values == (8.0,)


def test_a_compound_dose_word_asks_for_a_dose_and_a_dosing_rule_answers_it():
    question = profile("Adrenalindose ved anafylaksi hos vaksen?")
    assert [name for name, _ in question.intents] == ["dose"]
    assert intent_met(question, "Voksne og barn over 12 år: 0,5 mg") == 1.0
    assert intent_met(question, "Morfin p.o. til s.c.: del dosen på 2.") == 1.0
    assert intent_met(question, "Behovsdose = 1/6 av samla døgndose opioid.") == 1.0
    assert intent_met(question, "Adrenalin er førstevalg og skal gis uten forsinkelse.") == 0.0


def test_nynorsk_forms_meet_their_bokmaal_words_when_asked():
    assert analyze("vaksen", nynorsk_as_bokmaal=True) == analyze("voksen")
    assert analyze("halde fram", nynorsk_as_bokmaal=True)[0] == analyze("holde")[0]
    # Off by default: the BM25 index keeps the words as written.
    assert analyze("vaksen") != analyze("voksen")
    # A nynorsk stop word does not turn into a bokmål content word.
    assert analyze("kor mykje", nynorsk_as_bokmaal=True) == analyze("kor mykje")


def test_a_question_naming_a_route_is_not_answered_by_the_dose_for_another():
    iv = profile("morfin iv til døyande pasient, kva dose?")
    assert iv.routes == {"iv"}
    assert addresses(iv, "Morfin: 2,5–5 mg s.c. hos opioidnaive. Kan gjentakast etter 30 min.") == 0.0
    assert addresses(iv, "Morfin 2,5 mg i.v. hos opioidnaive.") > 0.0
    assert profile("Morfin 10 mg p.o. eller per os").routes == {"po"}
    assert profile("gi 0,5 mg i.m. i låret").routes == {"im"}
    # Words that merely contain the letters are not routes.
    assert profile("hvilken pasient skal vi vurdere i morgen?").routes == set()
    assert profile("kan paracetamol gis som stikkpille?").routes == {"pr"}


def test_a_code_in_the_question_must_be_in_the_text_that_answers_it():
    delirium = profile("4AT delirium-screening, hvor ofte?")
    assert delirium.codes == {("4", "at")}
    observation = "Ved tegn til delirium: kontakt lege. Na, K, Mg og fosfat kontrolleres daglig."
    assert addresses(delirium, observation) == 0.0
    assert addresses(delirium, "Screening for delirium med 4AT gjøres daglig.") > 0.0
    assert profile("NEWS2 5, hvor ofte skal jeg måle?").codes == {("news", "2")}
    assert code_in(("news", "2"), "Skår NEWS 2 hver fjerde time") and code_in(("crb", "65"), "CRB-65 under 2")
    assert not code_in(("news", "2"), "NEWS-skår hver time") and not code_in(("4", "at"), "14 at")
    # Amounts and durations are not codes.
    assert profile("500ml NaCl over 30min, 72t etter innleggelse, barn 8år").codes == set()


def test_a_question_for_a_maximum_needs_a_text_that_states_a_limit():
    droperidol = profile("max daily dose of droperidol for PONV?")
    assert droperidol.asks_maximum
    row = "Legemiddel: Droperidol; Dose: 0,625 mg i.v.; Tidspunkt / merknad: Behandling av etablert PONV."
    assert addresses(droperidol, row) == 0.0
    haloperidol = profile("maks haloperidol til eldre med delirium")
    assert addresses(haloperidol, "Startdose 0,5 mg haloperidol; samla dose skal ikkje overstige 2 mg per døgn.") > 0.0
    assert not profile("hvor mye paracetamol til voksne?").asks_maximum


def test_a_row_naming_another_medicine_does_not_answer_even_in_its_second_sentence():
    table = (
        "Legemiddel: Ondansetron; Dose: 4 mg i.v.; Tidspunkt: Ved avslutning. Ny dose tidligst etter 8 timer, maks 16 mg/døgn.\n"
        "Legemiddel: Droperidol; Dose: 0,625 mg i.v.; Tidspunkt: Behandling av etablert PONV."
    )
    fragment = "Ny dose tidligst etter 8 timer, maks 16 mg/døgn."
    assert addresses(profile("maks døgndose droperidol"), fragment, surroundings=table) == 0.0
    assert addresses(profile("maks døgndose ondansetron"), fragment, surroundings=table) > 0.0
