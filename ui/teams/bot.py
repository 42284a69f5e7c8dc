"""The bot's behaviour: what it does with each Teams activity.

A question is acknowledged at once (Teams waits at most 15 seconds for the
HTTP response) and answered in a background task: a typing indicator, kept
alive while the question waits and the service works, then the answer with its
citations and card. Questions of one conversation are answered in order;
different conversations are answered side by side up to the answer slots
(``ui/teams/admission.py``). The conversation's history is read from and
written to the chat database (``ui/teams/history.py``), so follow-ups survive
a restart.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Callable
from typing import Any

from microsoft_teams.api import MessageActivity, TypingActivityInput
from microsoft_teams.api.activities.invoke.adaptive_card import AdaptiveCardInvokeActivity
from microsoft_teams.api.activities.invoke.message import MessageSubmitActionInvokeActivity
from microsoft_teams.api.models import (
    AdaptiveCardActionErrorResponse,
    AdaptiveCardActionMessageResponse,
    AdaptiveCardInvokeResponse,
)
from microsoft_teams.api.models.error import HttpError, InnerHttpError
from microsoft_teams.apps import ActivityContext, App

from rag.errors import FagpratError
from rag.models import Answer, Question
from rag.settings import Settings
from ui.feedback import FeedbackRecord, FeedbackStore, cited_sources
from ui.teams.admission import AnswerQueue, ConversationBusy
from ui.teams.cards import COMMENT_INPUT_ID, FEEDBACK_VERB, DocumentLink
from ui.teams.history import ConversationHistory
from ui.teams.identity import IdentityResolver, tenant_of
from ui.teams.incoming import is_addressed_to_bot, is_reset_command, question_text
from ui.teams.memory import AnsweredQuestion, SentAnswers
from ui.teams.reply import build_reply

logger = logging.getLogger(__name__)

# Teams shows a typing indicator for a few seconds; resend it until the answer is ready.
TYPING_REFRESH_S = 3.0

RESET_CONFIRMATION = "Ny samtale startet. Tidligere spørsmål i denne samtalen brukes ikke lenger."
EMPTY_QUESTION_HELP = (
    "Skriv et faglig spørsmål, så svarer jeg med kilder fra retningslinjene og prosedyrene. "
    "Skriv «ny samtale» for å starte på nytt."
)
BUSY_NOTICE = "Mange spør nå, så svaret tar litt lengre tid enn vanlig. Du får det så snart det er din tur."
CONVERSATION_BUSY = (
    "Jeg svarer fortsatt på de forrige spørsmålene dine i denne samtalen. Vent til de er besvart, og spør så igjen."
)
FEEDBACK_THANKS = "Takk for tilbakemeldingen!"
FEEDBACK_INVALID = "Tilbakemeldingen kunne ikke lagres."

ServiceFactory = Callable[[], Any]
"""Returns the answering service (rag.service.AnsweringService) on first use."""


class FagpratBot:
    def __init__(
        self,
        settings: Settings,
        service_factory: ServiceFactory,
        feedback_store: FeedbackStore,
        identity: IdentityResolver,
        history: ConversationHistory,
        answers: SentAnswers,
        queue: AnswerQueue,
        document_link: DocumentLink | None = None,
    ):
        self._settings = settings
        self._service_factory = service_factory
        self._feedback = feedback_store
        self._identity = identity
        self._history = history
        self._answers = answers
        self._queue = queue
        self._document_link = document_link
        self._tasks: set[asyncio.Task] = set()

    @property
    def history(self) -> ConversationHistory:
        return self._history

    @property
    def queue(self) -> AnswerQueue:
        return self._queue

    @property
    def identity(self) -> IdentityResolver:
        return self._identity

    def register(self, app: App) -> None:
        app.on_message(self.on_message)
        app.on_card_action(self.on_card_action)
        app.on_message_submit_feedback(self.on_native_feedback)

    # --- messages -----------------------------------------------------------
    async def on_message(self, ctx: ActivityContext[MessageActivity]) -> None:
        activity = ctx.activity
        if not self._from_allowed_tenant(activity):
            return
        if not is_addressed_to_bot(activity):
            return  # a channel message that does not @mention the bot
        text = question_text(activity)
        if not text:
            await ctx.send(EMPTY_QUESTION_HELP)
            return
        work = self._reset(ctx) if is_reset_command(text) else self._answer(ctx, text)
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _reset(self, ctx: ActivityContext[MessageActivity]) -> None:
        conversation_id = ctx.activity.conversation.id
        try:
            # In turn: a question asked before «ny samtale» still belongs to the old conversation.
            async with self._queue.conversation(conversation_id, limited=False):
                await asyncio.to_thread(self._history.reset, conversation_id)
                await ctx.send(RESET_CONFIRMATION)
        except Exception:
            logger.exception("Teams reset failed")
            await self._send_quietly(ctx, FagpratError.user_message)

    async def _answer(self, ctx: ActivityContext[MessageActivity], text: str) -> None:
        conversation_id = ctx.activity.conversation.id
        try:
            async with self._queue.conversation(conversation_id):
                await self._answer_in_turn(ctx, text)
        except ConversationBusy:
            await self._send_quietly(ctx, CONVERSATION_BUSY)
        except FagpratError as err:
            logger.warning("Teams question failed: %s", err)
            await self._send_quietly(ctx, err.user_message)
        except Exception:
            logger.exception("Teams question failed unexpectedly")
            await self._send_quietly(ctx, FagpratError.user_message)

    async def _answer_in_turn(self, ctx: ActivityContext[MessageActivity], text: str) -> None:
        conversation_id = ctx.activity.conversation.id
        await ctx.send(TypingActivityInput())
        typing = asyncio.create_task(self._keep_typing(ctx))
        try:
            user = await self._identity.user_of(ctx.activity, ctx.api)
            access = await self._identity.access_of(user)
            question = Question(
                text=text,
                history=await asyncio.to_thread(self._history.history, conversation_id),
                user=user.key,
                access_groups=access.access_groups,
            )
            async with self._queue.slot(on_busy=lambda: ctx.send(BUSY_NOTICE)):
                answer = await self._produce(question)
        finally:
            typing.cancel()
        answer_id = uuid.uuid4().hex
        sent = [await ctx.send(m) for m in build_reply(answer, answer_id, document_link=self._document_link)]
        await asyncio.to_thread(self._history.add_exchange, conversation_id, answer.question or text, answer.text)
        self._answers.remember(
            AnsweredQuestion(
                answer_id=answer_id,
                conversation_id=conversation_id,
                user=user.key,
                question=answer.question or text,
                answer=answer.text,
                cited_sources=cited_sources(answer),
                model=answer.model,
            ),
            activity_ids=[s.id for s in sent if s.id],
        )

    async def _produce(self, question: Question) -> Answer:
        # The service is synchronous (llama.cpp, embedded Qdrant): keep the event loop free.
        service = await asyncio.to_thread(self._service_factory)
        return await asyncio.to_thread(service.answer, question)

    async def _keep_typing(self, ctx: ActivityContext[MessageActivity]) -> None:
        while True:
            await asyncio.sleep(TYPING_REFRESH_S)
            try:
                await ctx.send(TypingActivityInput())
            except Exception as err:  # a missed typing indicator is harmless
                logger.debug("Typing indicator failed: %s", err)

    async def _send_quietly(self, ctx: ActivityContext[MessageActivity], text: str) -> None:
        try:
            await ctx.send(text)
        except Exception:
            logger.exception("Could not send an error message to Teams")

    def _from_allowed_tenant(self, activity: MessageActivity) -> bool:
        """A single-tenant bot answers only its own organisation."""
        expected = self._settings.teams_tenant_id.strip().lower()
        tenant = tenant_of(activity).lower()
        if expected and tenant and tenant != expected:
            logger.warning("Ignoring an activity from tenant %s (bot is single-tenant)", tenant)
            return False
        return True

    async def drain(self) -> None:
        """Wait for answers in progress (tests, orderly shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    # --- feedback -------------------------------------------------------------
    async def on_card_action(self, ctx: ActivityContext[AdaptiveCardInvokeActivity]) -> AdaptiveCardInvokeResponse:
        action = ctx.activity.value.action
        data = action.data or {}
        try:
            if action.verb != FEEDBACK_VERB:
                raise ValueError(f"unknown card action verb {action.verb!r}")
            rating = int(data.get("rating", 0))
            answer_id = str(data.get("answer_id") or "")
            if rating not in (1, -1) or not answer_id:
                raise ValueError(f"invalid feedback data {data!r}")
            comment = str(data.get(COMMENT_INPUT_ID) or "").strip()
            await self._store_feedback(ctx, answer_id, self._answers.answer(answer_id), rating, comment)
        except (ValueError, TypeError) as err:
            logger.warning("Rejected a card action: %s", err)
            return AdaptiveCardActionErrorResponse(
                status_code=400,
                value=HttpError(code="BadRequest", message=FEEDBACK_INVALID, inner_http_error=InnerHttpError(status_code=400, body=None)),
            )
        return AdaptiveCardActionMessageResponse(value=FEEDBACK_THANKS)

    async def on_native_feedback(self, ctx: ActivityContext[MessageSubmitActionInvokeActivity]) -> None:
        """Teams' own thumbs under a message (the feedback loop on the reply)."""
        value = ctx.activity.value.action_value
        rating = 1 if value.reaction == "like" else -1
        reply_to = ctx.activity.reply_to_id or ""
        record = self._answers.answer_for_activity(reply_to)
        answer_id = record.answer_id if record else reply_to
        await self._store_feedback(ctx, answer_id, record, rating, _feedback_text(value.feedback))

    async def _store_feedback(
        self,
        ctx: ActivityContext[Any],
        answer_id: str,
        record: AnsweredQuestion | None,
        rating: int,
        comment: str,
    ) -> None:
        user = await self._identity.user_of(ctx.activity, ctx.api)
        if record is None:
            logger.info("Feedback on answer %s that is no longer in memory; storing the vote alone", answer_id)
        feedback = FeedbackRecord(
            channel="teams",
            user=user.key,
            conversation_id=record.conversation_id if record else ctx.activity.conversation.id,
            message_id=answer_id,
            question=record.question if record else "",
            answer=record.answer if record else "",
            cited_sources=record.cited_sources if record else [],
            model=record.model if record else "",
            rating=rating,
            comment=comment,
        )
        await asyncio.to_thread(self._feedback.record, feedback)


def _feedback_text(raw: str) -> str:
    """Teams sends the comment as a JSON string: '{"feedbackText": "..."}'."""
    try:
        data = json.loads(raw) if raw else {}
    except json.JSONDecodeError:
        return raw.strip()
    return str(data.get("feedbackText", "")).strip() if isinstance(data, dict) else ""
