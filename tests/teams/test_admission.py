"""The answer queue: conversations side by side up to the slots, each conversation in order."""

from __future__ import annotations

import asyncio

import pytest

from tests.conftest import make_settings
from ui.teams.admission import DEFAULT_SERVER_SLOTS, AnswerQueue, ConversationBusy, answer_slots


async def _answer(queue: AnswerQueue, conversation: str, log: list, hold: asyncio.Event, notices: list) -> None:
    async with queue.conversation(conversation):
        async def notify() -> None:
            notices.append(conversation)

        async with queue.slot(on_busy=notify):
            log.append(("start", conversation))
            await hold.wait()
            log.append(("end", conversation))


async def _until(predicate, timeout_s: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def test_conversations_run_side_by_side_up_to_the_slots_and_the_rest_wait_with_a_notice():
    queue = AnswerQueue(2, max_pending_per_conversation=3, busy_notice_s=0.2)
    log: list = []
    notices: list = []
    hold = asyncio.Event()
    tasks = [asyncio.create_task(_answer(queue, f"c{n}", log, hold, notices)) for n in range(3)]
    await _until(lambda: len(log) == 2)
    assert queue.stats() == {"slots": 2, "answering": 2, "waiting": 1}
    await asyncio.sleep(0.4)
    assert notices == ["c2"]  # only the one that waited past busy_notice_s
    hold.set()
    await asyncio.gather(*tasks)
    assert [c for kind, c in log if kind == "start"] == ["c0", "c1", "c2"]
    assert queue.stats() == {"slots": 2, "answering": 0, "waiting": 0}


async def test_no_notice_when_the_wait_is_short():
    queue = AnswerQueue(1, max_pending_per_conversation=3, busy_notice_s=0.5)
    log: list = []
    notices: list = []
    hold = asyncio.Event()
    tasks = [asyncio.create_task(_answer(queue, f"c{n}", log, hold, notices)) for n in range(2)]
    await _until(lambda: len(log) == 1)
    hold.set()
    await asyncio.gather(*tasks)
    await asyncio.sleep(0.6)
    assert notices == []


async def test_one_conversation_is_answered_in_order_and_its_waiting_questions_hold_no_slot():
    queue = AnswerQueue(2, max_pending_per_conversation=3, busy_notice_s=10)
    log: list = []
    hold_busy = asyncio.Event()
    busy = [asyncio.create_task(_answer(queue, "travel", log, hold_busy, [])) for _ in range(3)]
    await _until(lambda: len(log) == 1)
    # The busy conversation has one answer running and two waiting; another conversation is not held up.
    other = asyncio.Event()
    other.set()
    await asyncio.wait_for(_answer(queue, "rolig", log, other, []), timeout=2)
    assert log[-2:] == [("start", "rolig"), ("end", "rolig")]
    hold_busy.set()
    await asyncio.gather(*busy)
    assert [kind for kind, c in log if c == "travel"] == ["start", "end"] * 3  # never two at once


async def test_a_conversation_with_too_many_waiting_questions_is_turned_away_but_ny_samtale_is_not():
    queue = AnswerQueue(1, max_pending_per_conversation=2, busy_notice_s=10)
    hold = asyncio.Event()
    tasks = [asyncio.create_task(_answer(queue, "c", [], hold, [])) for _ in range(2)]
    await asyncio.sleep(0.05)
    with pytest.raises(ConversationBusy):
        async with queue.conversation("c"):
            pass
    reset = asyncio.create_task(_in_turn(queue, "c"))
    hold.set()
    await asyncio.gather(*tasks, reset)


async def _in_turn(queue: AnswerQueue, conversation: str) -> None:
    async with queue.conversation(conversation, limited=False):
        pass


def test_slots_follow_the_model(tmp_path):
    assert answer_slots(make_settings(tmp_path)) == 1  # in-process llama.cpp: one answer at a time
    server = make_settings(tmp_path, llm_backend="openai", llm_base_url="http://127.0.0.1:8080/v1")
    assert answer_slots(server) == DEFAULT_SERVER_SLOTS
    assert answer_slots(server.model_copy(update={"teams_max_concurrent_answers": 8})) == 8
