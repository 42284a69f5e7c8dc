"""The unknown-term gate's word rules (rag/vocabulary.py). The library's words are given as a
set of stems here; the store's lookup behind it is in the store contract, and the gate end to
end (the sample corpus, the service's refusal) in test_service.py."""

from __future__ import annotations

from rag.settings import Settings
from rag.sparse import term_index
from rag.text import stem
from rag.vocabulary import candidate_words, unknown_words

MAX_ZIPF = 3.0


def library(*words: str):  # type: ignore[no-untyped-def]
    indices = {term_index(stem(w)) for w in words}
    return lambda asked: asked & indices


def candidates(question: str, language: str = "nb", max_zipf: float = MAX_ZIPF) -> list[str]:
    return candidate_words(question, language, min_chars=5, max_zipf=max_zipf)  # type: ignore[arg-type]


def test_rare_words_are_candidates_and_everyday_words_are_not():
    # "dosering" is rare in everyday text too; the library knows it, which the next step checks.
    assert candidates("vankomycin dosering og speil") == ["vankomycin", "dosering"]
    assert candidates("hvor mye skal jeg bruke hvis pasienten spør?") == []
    # Nynorsk everyday words are read as bokmål before their frequency is looked up.
    assert "vaksen" not in candidates("Adrenalindose ved anafylaksi hos vaksen?", "nn")
    # English questions meet a Norwegian library: their words are left to the dense floor.
    assert candidates("vancomycin trough level?", "en") == []
    # A capitalised word inside the question is a name, often the patient's.
    assert candidates("Har Solveig Aarflot fått fenobarbital?") == ["fenobarbital"]
    assert candidates("Solveig Aarflot har fått fenobarbital") == ["fenobarbital"]
    assert candidates("Fenobarbital til Aarflot?") == ["fenobarbital"]


def test_a_word_the_library_has_is_known_and_one_it_lacks_is_not():
    present = library("vankomycin", "gentamicin")
    assert unknown_words(["vankomycin"], present, set(), max_zipf=MAX_ZIPF) == []
    assert unknown_words(["fenobarbital"], present, set(), max_zipf=MAX_ZIPF) == ["fenobarbital"]


def test_a_new_compound_of_known_words_is_known():
    present = library("insulin", "hypoglykemi", "epidural")
    # insulin (library) + brukere (everyday)
    assert unknown_words(["insulinbrukere"], present, set(), max_zipf=MAX_ZIPF) == []
    # ketoacidose is neither in the library nor everyday, and no split of it is
    assert unknown_words(["ketoacidose"], present, set(), max_zipf=MAX_ZIPF) == ["ketoacidose"]
    # two everyday parts with none in the library name something new: "smart" + "klokke"
    assert unknown_words(["smartklokke"], library("hånd"), set(), max_zipf=MAX_ZIPF) == ["smartklokke"]
    assert unknown_words(["smartklokke"], library("klokke"), set(), max_zipf=MAX_ZIPF) == []


def test_an_abbreviated_compound_of_a_retrieved_word_is_known():
    nearby = {"respirasjonsfrekvens", "oksygenmetning"}
    assert unknown_words(["respfrekvens"], library(), nearby, max_zipf=MAX_ZIPF) == []
    assert unknown_words(["respfrekvens"], library(), {"oksygenmetning"}, max_zipf=MAX_ZIPF) == ["respfrekvens"]


def test_the_library_is_asked_once():
    calls = []

    def present(asked: set[int]) -> set[int]:
        calls.append(asked)
        return set()

    unknown_words(["vankomycin", "fenobarbital"], present, set(), max_zipf=MAX_ZIPF)
    assert len(calls) == 1


def test_everyday_nynorsk_is_not_taken_for_a_rare_word():
    # Rare in bokmål text, everyday in nynorsk: read through their bokmål forms.
    assert candidates("Kven vann fotball-VM, og kva heitte treneren?", "nn") == []
    assert candidates("Korleis skal ein gjere det sjølv, saman med pasientane?", "nn") == []
    assert "pasientane" not in candidates("Kva skal pasientane ha?", "nn")
    # ... at the default threshold, which counts "covid" (Zipf 3.6) as rare: a dying patient is
    # an everyday ward word in nynorsk too.
    assert candidates("Kva gjer vi når ein døyande pasient har smerter?", "nn", max_zipf=Settings.model_fields["unknown_term_max_zipf"].default) == []


def test_an_inflection_of_a_retrieved_word_is_known():
    nearby = {"innstikkstedet", "inspiseres"}
    assert unknown_words(["innstikkstaden"], library(), nearby, max_zipf=MAX_ZIPF) == []
    assert unknown_words(["lunge"], library(), {"lungetuberkulose"}, max_zipf=MAX_ZIPF) == []
    # Sharing a short beginning is not enough: "ketoacidose" is not "ketose".
    assert unknown_words(["ketoacidose"], library(), {"ketose"}, max_zipf=MAX_ZIPF) == ["ketoacidose"]


def test_a_long_paste_of_rare_words_is_checked_only_so_far():
    from rag.vocabulary import MAX_CANDIDATES

    paste = " ".join(f"xqzvor{chr(97 + i % 26)}{chr(97 + i // 26)}" for i in range(200))
    assert len(candidates(paste)) == MAX_CANDIDATES
