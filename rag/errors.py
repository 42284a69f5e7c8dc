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
    user_message = (
        "Kunnskapsbasen er i bruk av en annen prosess (innebygd Qdrant tillater bare én). "
        "Stopp den andre prosessen, eller bruk en Qdrant-server (FAGPRAT_QDRANT_URL)."
    )


class LLMUnavailableError(FagpratError):
    user_message = "Språkmodellen svarer ikke akkurat nå. Prøv igjen om litt."


class ConfigurationError(FagpratError):
    user_message = "Oppsettet er ufullstendig. Kontakt IT."
