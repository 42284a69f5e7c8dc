"""The Teams bot under load: N conversations ask at once.

Every conversation posts one question (a real Bot Framework activity, over
HTTP, to the bot running on loopback) at the same moment; the connector
stand-in records when each conversation's answer arrives. Reported per model
set-up: time to reply (p50, p95, max; from the POST to the answer message),
errors (an error message instead of an answer, or no reply within the
timeout), how many conversations got the «mange spør nå» notice, the answer
slots, and the throughput.

Set-ups (``--setup``):

- ``in-process``: the bundled SmolLM2 in-process (``answer_mode=generate``):
  one llama.cpp context, so one answer slot; answers queue.
- ``quote``: quote answers, no language model (what ``answer_mode=auto``
  gives with the bundled model).
- ``server``: an OpenAI-compatible server with ``--slots`` parallel slots
  (``tests/teams/slotted_llm.py``: the pipeline is real, the model's time is
  the stand-in's ``--prompt-s`` per request and ``--token-s`` per word); the
  bot's slots are set to the server's.

Bounded and loopback only: the bot, the connector stand-in and the model
stand-in listen on 127.0.0.1; at most MAX_CONVERSATIONS conversations.

    python -m benchmarks.teams_load --conversations 20
    python -m benchmarks.teams_load --setup server --slots 8 --conversations 40 --name teams_load_8slots
"""

from __future__ import annotations

import argparse
import contextlib
import os
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from benchmarks.common import REPO, median, percentile, write_result
from rag.settings import Settings
from tests.teams.activities import member_json, personal_message
from tests.teams.conftest import running_bot
from tests.teams.connector import Connector
from tests.teams.slotted_llm import SlottedLLMServer
from ui.teams.bot import BUSY_NOTICE
from ui.teams.server import MESSAGING_ENDPOINT

MAX_CONVERSATIONS = 200
SETUPS = ("in-process", "quote", "server")
# Questions on the sample corpus's topics, asked round-robin by the conversations.
QUESTIONS = [
    "Hvordan behandles anafylaksi hos voksne?",
    "Hvor ofte skal innstikkstedet for PVK inspiseres?",
    "Hvordan forebygges trykksår?",
    "Hvordan utføres hånddesinfeksjon?",
    "Hvordan behandles KOLS-forverring?",
    "Hvordan vurderes smerte hos pasienter som ikke kan uttrykke seg?",
    "Hva er tiltakene for å forebygge fall?",
    "Hvordan kontrolleres blodet før transfusjon?",
    "Hvordan gjøres munnstell?",
    "Hva er tegn på delirium?",
]
# The sample corpus's users see national guidelines and Fjordbyen's procedures.
ACCESS_GROUPS = ["nasjonal", "fjordbyen"]


def _user(n: int) -> dict:
    return {
        "id": f"29:last-bruker-{n}",
        "name": f"Bruker {n}",
        "aadObjectId": f"6f1c2a7e-0000-4000-8000-{n:012d}",
        "upn": f"bruker{n}@fjordbyen.no",
    }


@contextlib.contextmanager
def _connector(users: int) -> Iterator[Connector]:
    """The connector stand-in, knowing every load user (the bot looks up their UPN)."""
    stand_in = Connector(members={_user(n)["id"]: member_json(_user(n)) for n in range(users)}).start()
    try:
        yield stand_in
    finally:
        stand_in.stop()


def _index(data_dir: Path) -> None:
    from ingest.pipeline import ingest_path

    report = ingest_path(Settings(data_dir=data_dir, _env_file=None), REPO / "data" / "sample")
    print(f"indexed {report.indexed} documents into {data_dir}", flush=True)


@contextlib.contextmanager
def _model(setup: str, args: argparse.Namespace) -> Iterator[dict]:
    """The settings a set-up changes (and its model server stand-in, if any)."""
    if setup == "in-process":
        yield {"answer_mode": "generate", "llm_backend": "llamacpp", "llm_max_tokens": args.max_tokens}
    elif setup == "quote":
        yield {"answer_mode": "quote", "llm_backend": "llamacpp"}
    else:
        with SlottedLLMServer(args.slots, prompt_s=args.prompt_s, token_s=args.token_s) as server:
            yield {
                "answer_mode": "generate",
                "llm_backend": "openai",
                "llm_base_url": server.base_url,
                "llm_name": "slotted-stand-in",
                "teams_max_concurrent_answers": args.slots,
                "_server": server,
            }


def _run(setup: str, args: argparse.Namespace, data_dir: Path) -> dict:
    with _model(setup, args) as changes, _connector(args.conversations + 1) as connector:
        server = changes.pop("_server", None)
        group_map = data_dir / f"groups-{setup}.yaml"
        group_map.write_text(
            "users:\n" + "".join(f"  {_user(n)['upn']}: [fjordbyen]\n" for n in range(args.conversations + 1)),
            encoding="utf-8",
        )
        settings = Settings(
            data_dir=data_dir, _env_file=None, teams_dev_mode=True, group_map_file=group_map,
            teams_busy_notice_s=args.busy_notice_s, **changes,
        )
        with running_bot(settings) as (bot, base_url):
            url = base_url + MESSAGING_ENDPOINT
            # Warm-up (models load on the first question); not counted.
            warm = personal_message(connector.url, QUESTIONS[0], user=_user(args.conversations),
                                    conversation_id="a:oppvarming")
            httpx.post(url, json=warm, timeout=60)
            connector.wait_for(lambda acts: any(a["conversation"]["id"] == "a:oppvarming" and "attachments" in a
                                                for a in acts), args.timeout_s, "the warm-up answer")
            connector.clear()

            activities = [
                personal_message(connector.url, QUESTIONS[n % len(QUESTIONS)], user=_user(n),
                                 conversation_id=f"a:last-{n}")
                for n in range(args.conversations)
            ]
            posted: dict[str, float] = {}
            statuses: list[int] = []

            def post(activity: dict) -> None:
                posted[activity["conversation"]["id"]] = time.monotonic()
                statuses.append(httpx.post(url, json=activity, timeout=60).status_code)

            started = time.monotonic()
            threads = [threading.Thread(target=post, args=(a,)) for a in activities]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            deadline = time.monotonic() + args.timeout_s
            while time.monotonic() < deadline:
                replied = {r.body["conversation"]["id"] for r in list(connector.requests)
                           if r.method == "POST" and r.body.get("type") == "message" and r.body.get("text") != BUSY_NOTICE}
                if len(replied) == len(activities):
                    break
                time.sleep(0.05)
            finished = time.monotonic()
            stats = bot.bot.queue.stats()

    times: list[float] = []
    errors: list[str] = []
    notices = 0
    for activity in activities:
        conversation = activity["conversation"]["id"]
        sent = [r for r in connector.requests if r.method == "POST" and r.body.get("conversation", {}).get("id") == conversation]
        notices += any(r.body.get("text") == BUSY_NOTICE for r in sent)
        reply = next((r for r in sent if r.body.get("type") == "message" and r.body.get("text") != BUSY_NOTICE), None)
        if reply is None:
            errors.append(f"{conversation}: no reply within {args.timeout_s} s")
        elif "attachments" not in reply.body:
            errors.append(f"{conversation}: {reply.body.get('text', '')[:120]}")
        else:
            times.append(reply.at - posted[conversation])
    wall = finished - started
    return {
        "setup": setup,
        "conversations": len(activities),
        "slots": stats["slots"],
        "http_statuses": sorted(set(statuses)),
        "answered": len(times),
        "errors": len(errors),
        "error_examples": errors[:5],
        "busy_notices": notices,
        "p50_s": round(median(times), 2),
        "p95_s": round(percentile(times, 0.95), 2),
        "max_s": round(max(times), 2) if times else None,
        "wall_s": round(wall, 2),
        "answers_per_min": round(60 * len(times) / wall, 2) if wall else None,
        "model_server_max_parallel": server.max_running if server else None,
        "model_server": {"slots": args.slots, "prompt_s": args.prompt_s, "token_s": args.token_s} if server else None,
        "max_tokens": args.max_tokens if setup == "in-process" else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--conversations", type=int, default=20)
    parser.add_argument("--setup", choices=[*SETUPS, "all"], default="all")
    parser.add_argument("--slots", type=int, default=4, help="parallel slots of the model server stand-in")
    parser.add_argument("--prompt-s", type=float, default=1.0, help="stand-in: seconds per request for the prompt")
    parser.add_argument("--token-s", type=float, default=0.05, help="stand-in: seconds per streamed word")
    parser.add_argument("--max-tokens", type=int, default=400, help="in-process model: answer length limit")
    parser.add_argument("--busy-notice-s", type=float, default=10.0)
    parser.add_argument("--timeout-s", type=float, default=1800.0, help="longest wait for all replies")
    parser.add_argument("--data-dir", type=Path, help="an indexed data folder to reuse (default: index the sample)")
    parser.add_argument("--name", default="teams_load")
    args = parser.parse_args()
    if not 1 <= args.conversations <= MAX_CONVERSATIONS:
        parser.error(f"--conversations must be between 1 and {MAX_CONVERSATIONS}")
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

    with tempfile.TemporaryDirectory(prefix="fagprat-teams-load-") as scratch:
        data_dir = args.data_dir or Path(scratch) / "data"
        if not args.data_dir:
            _index(data_dir)
        setups = SETUPS if args.setup == "all" else (args.setup,)
        results = []
        for setup in setups:
            print(f"--- {setup}: {args.conversations} conversations", flush=True)
            result = _run(setup, args, data_dir)
            print(result, flush=True)
            results.append(result)

    rows = "\n".join(
        f"| {r['setup']} | {r['slots']} | {r['conversations']} | {r['answered']} | {r['errors']} | {r['p50_s']} | "
        f"{r['p95_s']} | {r['max_s']} | {r['answers_per_min']} | {r['busy_notices']} |"
        for r in results
    )
    server = next((r for r in results if r["model_server"]), None)
    markdown = f"""
{args.conversations} Teams conversations post one question each at the same moment to the bot on loopback
(real activities over HTTP, real answering service on the indexed sample corpus, connector stand-in).
Time to reply: from the POST to the answer message. Other agents shared the 2 cores during this run.

| set-up | answer slots | conversations | answered | errors | p50 s | p95 s | max s | answers/min | got «mange spør nå» |
|---|---|---|---|---|---|---|---|---|---|
{rows}

- in-process: bundled SmolLM2-135M in-process, answer_mode=generate, llm_max_tokens={args.max_tokens}.
- quote: quote answers without a language model (answer_mode=quote).
""" + (f"""- server: OpenAI-compatible stand-in with {server['model_server']['slots']} parallel slots,
  {server['model_server']['prompt_s']} s per request for the prompt and {server['model_server']['token_s']} s per
  streamed word (tests/teams/slotted_llm.py); it ran at most {server['model_server_max_parallel']} requests at once.
  The model's time is simulated; everything around it (retrieval, verification, the bot) is real.
""" if server else "")
    path = write_result(args.name, {"args": {k: str(v) for k, v in vars(args).items()}, "results": results}, markdown)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
