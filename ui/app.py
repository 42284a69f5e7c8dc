"""The web chat for hospital staff (Chainlit).

Run with ``chainlit run ui/app.py`` from the repository root, or ``fagprat ui``.
Each browser session keeps its own user, history and answers in Chainlit's
user session; the access groups of every question come from the signed-in
user (``ui/auth.py``), never from the browser.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from typing import Any

import chainlit as cl
import chainlit.server as chainlit_server
from chainlit.data import get_data_layer
from chainlit.input_widget import Select
from chainlit.oauth_providers import get_configured_oauth_providers
from chainlit.types import Feedback, ThreadDict

from rag.errors import ConfigurationError, FagpratError
from rag.models import Answer, AnswerEvent, ChatTurn, TokenEvent
from rag.service import get_service
from ui import presenter
from ui.auth import (
    DEMO_NOTICE,
    RequestPeerMiddleware,
    SignedInUser,
    anonymous_user,
    authenticate_password,
    header_user,
    oauth_user,
    prepare_sign_in,
    request_peer,
)
from ui.chat_history import create_schema, make_data_layer
from ui.documents import mount_document_route
from ui.feedback import FeedbackRecord, FeedbackStore, cited_sources
from ui.origins import restrict_origins
from ui.private_files import close_folder_to_others
from ui.questions import build_question, setting_choices, starter_questions
from ui.sanitize import SafeStream
from ui.server import active_settings, mount_chat_page

logger = logging.getLogger("fagprat.chat")

settings = active_settings()
DATABASE_URL = settings.resolved_chat_database_url
RETRIEVAL_STEP_NAME = "Søk i kildene"
ANSWER_META_KEY = "fagprat"

# --- start-up ----------------------------------------------------------------------

# History, the users file and the session secret live here: nobody else on the machine reads it.
if not close_folder_to_others(settings.data_dir):
    logger.warning("Could not close the data folder %s to other accounts (not its owner)", settings.data_dir)
try:
    # No users file (outside the explicit demo mode) or a header sign-in that trusts nobody: do not start.
    for warning in prepare_sign_in(settings, os.environ):
        logger.warning(warning)
except ConfigurationError as err:
    raise SystemExit(str(err)) from err
# Only the chat's own pages (and FAGPRAT_CHAT_ALLOWED_ORIGINS) may call it with the user's sign-in.
restrict_origins(chainlit_server.app, chainlit_server.sio, settings.chat_allowed_origins)
if settings.auth_mode == "header":
    # Header sign-in checks the address the request really came from.
    chainlit_server.app.add_middleware(RequestPeerMiddleware)


# A source's original file, for signed-in users with the document's access groups.
mount_document_route(chainlit_server.app, settings)
# The page in Norwegian (lang="nb"), without requests to other sites.
mount_chat_page(chainlit_server.app)


@cl.on_app_startup
async def _start() -> None:
    await create_schema(DATABASE_URL)
    # Load the embedder, the store and the default model now, not in the first user's chat.
    try:
        service = await asyncio.to_thread(get_service, settings)
        await asyncio.to_thread(service.llm)
    except FagpratError as err:
        logger.error("The answering service is not ready: %s", err)


@cl.data_layer
def _history():
    return make_data_layer(DATABASE_URL)


_feedback_store: FeedbackStore | None = None


def feedback_store() -> FeedbackStore:
    global _feedback_store
    if _feedback_store is None:
        _feedback_store = FeedbackStore(DATABASE_URL)
    return _feedback_store


# --- sign-in -----------------------------------------------------------------------


def _chainlit_user(user: SignedInUser | None) -> cl.User | None:
    if user is None:
        return None
    return cl.User(identifier=user.identifier, display_name=user.display_name, metadata=user.metadata())


if settings.auth_mode == "password":

    @cl.password_auth_callback
    async def _password_sign_in(username: str, password: str) -> cl.User | None:
        try:
            user = await asyncio.to_thread(authenticate_password, settings, username, password)
        except ConfigurationError as err:
            logger.error("Password sign-in impossible: %s", err)
            return None
        return _chainlit_user(user)

elif settings.auth_mode == "oauth":
    if not get_configured_oauth_providers():
        # Stop rather than run without sign-in (Chainlit would serve everyone).
        raise SystemExit(
            "FAGPRAT_AUTH_MODE=oauth, but no OAuth provider is configured: set OAUTH_AZURE_AD_CLIENT_ID, "
            "OAUTH_AZURE_AD_CLIENT_SECRET and OAUTH_AZURE_AD_TENANT_ID (see docs/chat.md)."
        )

    @cl.oauth_callback
    async def _entra_sign_in(
        provider_id: str,
        token: str,
        raw_user_data: dict[str, Any],
        default_user: cl.User,
        id_token: str | None = None,
    ) -> cl.User | None:
        user = oauth_user(settings, provider_id, raw_user_data, default_user.identifier, token, id_token)
        return _chainlit_user(user)

elif settings.auth_mode == "header":

    @cl.header_auth_callback
    async def _proxy_sign_in(headers) -> cl.User | None:
        return _chainlit_user(header_user(settings, headers, request_peer()))


def _json_dict(value: Any) -> dict:
    """Chainlit's SQLite rows hand JSON columns back as text."""
    if isinstance(value, str):
        return json.loads(value or "{}")
    return value or {}


def _signed_in(user: cl.User | None) -> SignedInUser:
    if user is None:
        if settings.auth_mode != "none":
            raise FagpratError("no signed-in user in a session that requires sign-in")
        return anonymous_user(settings)
    return SignedInUser.from_metadata(
        user.identifier, _json_dict(user.metadata), getattr(user, "display_name", "") or ""
    )


def current_user() -> SignedInUser:
    """The signed-in user of this session (anonymous only when sign-in is off)."""
    return _signed_in(cl.user_session.get("user"))


def _shows_retrieval(user: SignedInUser) -> bool:
    mode = settings.show_retrieval_steps
    return mode == "all" or (mode == "admins" and user.is_admin)


# --- the start of a chat ------------------------------------------------------------


@cl.set_starters
async def _starters(user: cl.User | None = None, language: str | None = None) -> list[cl.Starter]:
    if user is None and settings.auth_mode != "none":
        return []
    try:
        questions = await asyncio.to_thread(starter_questions, settings, _signed_in(user))
    except FagpratError as err:
        logger.warning("No starters: %s", err)
        return []
    return [cl.Starter(label=q, message=q) for q in questions]


async def _send_chat_settings() -> None:
    try:
        service = await asyncio.to_thread(get_service, settings)
        facets = await asyncio.to_thread(service.facets, current_user().access_groups)
    except FagpratError as err:
        await cl.ErrorMessage(content=err.user_message).send()
        return
    inputs = [
        Select(id=choice.id, label=choice.label, values=choice.values, initial_index=0)
        for choice in setting_choices(settings, facets)
    ]
    if inputs:  # no gear at all when there is nothing to choose
        await cl.ChatSettings(inputs).send()


@cl.on_chat_start
async def _chat_start() -> None:
    cl.user_session.set("history", [])
    cl.user_session.set("answers", {})
    if settings.demo_mode and settings.auth_mode == "password":
        await cl.context.emitter.send_toast(DEMO_NOTICE, "warning")
    await _send_chat_settings()


@cl.on_chat_resume
async def _chat_resume(thread: ThreadDict) -> None:
    history = []
    for step in thread.get("steps", []):
        if step.get("type") == "user_message":
            history.append(ChatTurn(role="user", content=step.get("output") or ""))
        elif step.get("type") == "assistant_message":
            # The answer itself, without the source list shown under it.
            record = _json_dict(step.get("metadata")).get(ANSWER_META_KEY) or {}
            if text := record.get("answer") or step.get("output"):
                history.append(ChatTurn(role="assistant", content=text))
            if view := record.get("view"):
                # Chainlit stores no elements without a blob store: the answer's panels come from its
                # metadata. Chainlit sends `thread` to the browser after this callback, and its
                # elements replace any sent before, so they go into `thread` itself.
                element = _answer_element(view).to_dict() | {"forId": step["id"], "threadId": thread["id"]}
                thread["elements"] = [*(thread.get("elements") or []), element]
    cl.user_session.set("history", history)
    cl.user_session.set("answers", {})
    await _send_chat_settings()


# --- answering ----------------------------------------------------------------------


def _answer_element(props: dict, element_id: str | None = None) -> cl.CustomElement:
    """The answer's behaviour in the page (public/elements/FagpratSvar.jsx): [n] opens
    source n of this answer; a draft is shown muted. Same id = replaces the draft's."""
    extra = {"id": element_id} if element_id else {}
    return cl.CustomElement(name=presenter.ANSWER_ELEMENT, props=props, display="inline", **extra)


def _answer_record(message_id: str, question: str, answer: Answer, view: presenter.AnswerView) -> dict:
    """What feedback on this answer must carry, and the panels for a resumed
    conversation; kept in the message's metadata."""
    return {
        "message_id": message_id,
        "question": question,
        "answer": answer.text,
        "sources": cited_sources(answer),
        "model": answer.model,
        "refused": answer.refused,
        "kind": answer.kind,
        "view": view.element_props(),
    }


async def _show_error(reply: cl.Message, step: cl.Step | None, text: str) -> None:
    reply.content = text
    reply.is_error = True
    await reply.update()
    if step is not None:
        step.output = text
        step.is_error = True
        await step.update()


@cl.on_message
async def _on_message(message: cl.Message) -> None:
    user = current_user()
    history: list[ChatTurn] = cl.user_session.get("history") or []
    question = build_question(settings, user, message.content, history, cl.user_session.get("chat_settings"))

    reply = cl.Message(content="")
    await reply.send()
    step = None
    if _shows_retrieval(user):
        # Nested under the reply and collapsed: staff see the answer, admins can look inside.
        step = cl.Step(
            name=RETRIEVAL_STEP_NAME, type="retrieval", parent_id=reply.id, default_open=False, show_input=False
        )
        await step.send()
    answer: Answer | None = None
    # The model's text streams as a draft, sanitised and marked, until the verified answer replaces it.
    draft = SafeStream()
    draft_element: cl.CustomElement | None = None
    try:
        service = await asyncio.to_thread(get_service, settings)
        async for event in service.astream(question):
            if isinstance(event, TokenEvent):
                update = draft.feed(event.text)
                if draft_element is None:
                    draft_element = _answer_element(presenter.DRAFT_PROPS)
                    await draft_element.send(for_id=reply.id)
                    await reply.stream_token(presenter.draft_markdown(draft.text), is_sequence=True)
                elif update.replace:
                    await reply.stream_token(presenter.draft_markdown(draft.text), is_sequence=True)
                else:
                    await reply.stream_token(update.text)
            elif isinstance(event, AnswerEvent):
                answer = event.answer
        if answer is None:
            raise FagpratError("the answer stream ended without an answer")
    except Exception as err:
        if isinstance(err, FagpratError):
            logger.warning("Question from %s failed: %s", user.identifier, err)
        else:
            logger.exception("Unexpected error answering %s", user.identifier)
        await _show_error(reply, step, err.user_message if isinstance(err, FagpratError) else FagpratError.user_message)
        if draft_element is not None:  # the draft is gone: the message is no longer muted
            await _answer_element(presenter.FINAL_EMPTY_PROPS, draft_element.id).send(for_id=reply.id)
        return

    view = presenter.present(answer, settings)
    reply.content = view.markdown
    reply.elements = [_answer_element(view.element_props(), draft_element.id if draft_element else None)]
    record = _answer_record(reply.id, message.content, answer, view)
    reply.metadata = {ANSWER_META_KEY: record}
    await reply.update()

    if step is not None:
        step.output = presenter.retrieval_summary(answer)
        await step.update()

    history += [ChatTurn(role="user", content=message.content), ChatTurn(role="assistant", content=answer.text)]
    cl.user_session.set("history", history)
    # Chainlit's thumbs rate the run (the on_message step, the reply's parent).
    answers = cl.user_session.get("answers") or {}
    for key in (reply.id, reply.parent_id):
        if key:
            answers[key] = record
    cl.user_session.set("answers", answers)


# --- feedback -----------------------------------------------------------------------


async def _stored_record(rated_id: str, user: SignedInUser) -> dict | None:
    """The answer record behind a rated run or message of an earlier session
    (e.g. after a restart), only from a thread of this user."""
    layer = get_data_layer()
    rated = await layer.get_step(rated_id)
    if not rated or await layer.get_thread_author(rated["threadId"]) != user.identifier:
        return None
    thread = await layer.get_thread(rated["threadId"])
    for step in (thread or {}).get("steps", []):
        if rated_id not in (step.get("id"), step.get("parentId")):
            continue
        metadata = _json_dict(step.get("metadata"))
        if ANSWER_META_KEY in metadata:
            return metadata[ANSWER_META_KEY]
    return None


@cl.on_feedback
async def _on_feedback(feedback: Feedback) -> None:
    user = current_user()
    record = (cl.user_session.get("answers") or {}).get(feedback.forId)
    if record is None:
        record = await _stored_record(feedback.forId, user)
    if record is None:
        logger.warning("Feedback from %s on unknown message %s ignored", user.identifier, feedback.forId)
        return
    await asyncio.to_thread(
        feedback_store().record,
        FeedbackRecord(
            channel="web",
            user=user.identifier,
            conversation_id=cl.context.session.thread_id,
            message_id=record.get("message_id") or feedback.forId,
            question=record["question"],
            answer=record["answer"],
            cited_sources=record["sources"],
            model=record["model"],
            rating=1 if feedback.value == 1 else -1,
            comment=feedback.comment or "",
        ),
    )
