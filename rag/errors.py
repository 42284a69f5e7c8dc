"""Errors a user can act on. Each carries a Norwegian message for the surfaces;
`str(error)` is the English detail for logs."""

from __future__ import annotations


class FagpratError(Exception):
    user_message: str = "Noe gikk galt. Prøv igjen, eller kontakt IT hvis feilen vedvarer."

    def __init__(self, detail: str = "", *, user_message: str | None = None):
        super().__init__(detail or self.user_message)
        if user_message:
            self.user_message = user_message


class InvalidQuestionError(FagpratError):
    user_message = "Spørsmålet kan ikke besvares slik det er skrevet."


class StoreUnavailableError(FagpratError):
    user_message = "Kunnskapsbasen er ikke tilgjengelig akkurat nå."


class StoreLockedError(StoreUnavailableError):
    user_message = "En annen prosess skriver til kunnskapsbasen nå. Prøv igjen når den er ferdig."


class LegacyStoreError(StoreUnavailableError):
    """An index written by an earlier version (qdrant-client's local mode, another embedder)."""

    user_message = "Indeksen er laget av en eldre versjon av fagprat. Indekser dokumentene på nytt med «fagprat ingest <mappe>»."


class LLMUnavailableError(FagpratError):
    user_message = "Språkmodellen svarer ikke akkurat nå. Prøv igjen om litt."


class ConfigurationError(FagpratError):
    user_message = "Oppsettet er ufullstendig. Kontakt IT."


class EmbedderMismatchError(ConfigurationError):
    """A collection built by another embedding model (or with none recorded) than the one configured."""

    user_message = (
        "Kunnskapsbasen er bygget med en annen embedding-modell enn den som er satt opp. "
        "Indekser på nytt: «fagprat ingest <mappe> --collection <ny>», så «fagprat alias <navn> <ny>»."
    )
