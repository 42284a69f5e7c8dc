"""Many staff at once: who is answered now, and who waits.

Two rules, in this order:

1. **One question at a time per conversation**, in the order asked, so a
   follow-up sees the answer before it and «ny samtale» applies where it was
   written. A conversation may have only a few questions waiting; more are
   turned away with a message (`ConversationBusy`) rather than piling up.
2. **At most `slots` answers produced at once** across all conversations.
   Beyond that, questions wait in a first-come queue; one that waits longer
   than ``busy_notice_s`` gets a «mange spør nå» notice once.

A conversation holds a slot only while its answer is produced (not while
it waits for its own earlier question, nor for Graph), so one busy
conversation never blocks the others. How many slots make sense depends on
the model: one in-process llama.cpp model generates one answer at a time (its
lock in ``rag/llm.py`` would serialise more anyway), while a llama.cpp server
with ``--parallel N`` runs N side by side (`answer_slots`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

from rag.settings import Settings

logger = logging.getLogger(__name__)

# docker-compose.yml's LLM_PARALLEL default: the slots of the compose stack's llama.cpp server.
DEFAULT_SERVER_SLOTS = 4


def answer_slots(settings: Settings) -> int:
    """How many answers the bot produces at once (``teams_max_concurrent_answers``, 0 = auto)."""
    if settings.teams_max_concurrent_answers > 0:
        return settings.teams_max_concurrent_answers
    return 1 if settings.model_setup().backend == "llamacpp" else DEFAULT_SERVER_SLOTS


class ConversationBusy(Exception):
    """This conversation already has as many questions waiting as it may."""


@dataclass
class _Conversation:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    pending: int = 0


class AnswerQueue:
    def __init__(self, slots: int, *, max_pending_per_conversation: int, busy_notice_s: float):
        if slots < 1:
            raise ValueError("slots must be at least 1")
        self.slots = slots
        self._max_pending = max(1, max_pending_per_conversation)
        self._busy_notice_s = busy_notice_s
        self._semaphore = asyncio.Semaphore(slots)
        self._conversations: dict[str, _Conversation] = {}
        self._notices: set[asyncio.Task[None]] = set()
        self.answering = 0
        self.waiting = 0

    @contextlib.asynccontextmanager
    async def conversation(self, conversation_id: str, *, limited: bool = True) -> AsyncIterator[None]:
        """This conversation's turn (rule 1). `limited=False` for commands such as «ny samtale»."""
        state = self._conversations.setdefault(conversation_id, _Conversation())
        if limited and state.pending >= self._max_pending:
            raise ConversationBusy(conversation_id)
        state.pending += 1
        try:
            async with state.lock:
                yield
        finally:
            state.pending -= 1
            if state.pending == 0:
                self._conversations.pop(conversation_id, None)

    @contextlib.asynccontextmanager
    async def slot(self, on_busy: Callable[[], Awaitable[None]]) -> AsyncIterator[None]:
        """An answer slot (rule 2); `on_busy` is awaited once if the wait gets long."""
        notice: asyncio.Task[None] | None = None
        sending = asyncio.Event()
        if self._semaphore.locked():
            notice = asyncio.create_task(self._notify_after_delay(on_busy, sending))
            self._notices.add(notice)
            notice.add_done_callback(self._notices.discard)
        self.waiting += 1
        try:
            await self._semaphore.acquire()
        finally:
            self.waiting -= 1
            if notice is not None and not sending.is_set():
                notice.cancel()  # a notice already on its way is let through
        self.answering += 1
        try:
            yield
        finally:
            self.answering -= 1
            self._semaphore.release()

    async def _notify_after_delay(self, on_busy: Callable[[], Awaitable[None]], sending: asyncio.Event) -> None:
        await asyncio.sleep(self._busy_notice_s)
        sending.set()
        try:
            await on_busy()
        except Exception as err:  # a notice that cannot be sent must not cost the answer
            logger.warning("Could not send the busy notice: %s", err)

    def stats(self) -> dict[str, int]:
        return {"slots": self.slots, "answering": self.answering, "waiting": self.waiting}
