"""Security checks against a running fagprat chat, over real HTTP and its websocket.

    python scripts/security_check.py --url http://127.0.0.1:8000 --data-dir /data \
        --user kari --password '…'                       # password sign-in
    python scripts/security_check.py --url http://127.0.0.1:8000 --data-dir /data \
        --proxy-address 127.0.0.2 --proxy-user kari@sykehus.no   # header sign-in, from the proxy's address
        [--proxy-secret …]

Each check prints PASS or FAIL with what it saw; the exit status is 1 when any
check fails. Run it from the chat's own machine (the data folder must be
readable) against a test account: it asks one question containing a synthetic
national identity number and rates the answer. docs/security.md explains each
check; tests/security/test_security_check.py runs them in CI against a chat
started on loopback.

- ``forged-header``: ``POST /auth/header`` with a made-up user, an ``admin``
  group and a spoofed ``X-Forwarded-For`` is refused (401, no session cookie).
- ``cors``: a foreign origin gets no CORS permission on the HTTP routes, and its
  websocket handshake is refused.
- ``sign-in`` (with an account): the account signs in, and a raw ``admin``
  group sent by the proxy makes nobody an admin.
- ``no-identity-number`` (with an account and ``--data-dir``): after a chat and a
  rated answer whose question and comment hold a synthetic fødselsnummer in
  every common spelling, no file under the data folder (or ``--also-scan``)
  holds it, and the history the chat serves back does not either.
- ``safe-rendering`` (with an account): every assistant message and side
  panel the chat sent renders, as Markdown with raw HTML on, without an image,
  media, a raw HTML tag or a link other than http(s) and the chat's own routes.
- ``private-files`` (with ``--data-dir``): the data folder is closed to other
  accounts; the users file, the chat database and the session secret are 0600.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import re
import stat
import sys
import time
import uuid
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import httpx

FOREIGN_ORIGIN = "http://angriper.example"
SOCKET_PATH = "/ws/socket.io"
# The chat's own link targets, besides http(s): its document route (ui/documents.py) and
# anchors within the page (an answer's [n] jumps to its source).
OWN_ROUTES = ("/fagprat/dokument/", "#")
ANSWER_TIMEOUT_S = 300.0
# Files under the data folder that hold secrets or history: owner only.
PRIVATE_FILES = ("users.yaml", "chat.db", "chat.db-journal", "chat.db-wal", "chainlit_auth_secret")


@dataclass
class Result:
    name: str
    ok: bool
    detail: str


# --- synthetic identity numbers ------------------------------------------------------------------

_K1 = (3, 7, 6, 1, 8, 9, 4, 5, 2)
_K2 = (5, 4, 3, 2, 7, 6, 5, 4, 3, 2)


def _check(digits: str, weights: tuple[int, ...]) -> int | None:
    value = 11 - sum(int(d) * w for d, w in zip(digits, weights, strict=True)) % 11
    return {11: 0, 10: None}.get(value, value)


def synthetic_fnr(date_part: str = "150385") -> str:
    """A valid fødselsnummer for ``date_part`` (DDMMYY), built from the mod-11 rule: nobody's real number."""
    for individual in range(1000):
        nine = f"{date_part}{individual:03d}"
        k1 = _check(nine, _K1)
        if k1 is None:
            continue
        k2 = _check(nine + str(k1), _K2)
        if k2 is not None:
            return f"{nine}{k1}{k2}"
    raise ValueError(date_part)


def spellings(number: str) -> list[str]:
    date, rest = number[:6], number[6:]
    dd, mm, yy = date[:2], date[2:4], date[4:]
    return [
        number,
        f"{date} {rest}",
        f"{date}-{rest}",
        f"{dd}.{mm}.{yy} {rest}",
        f"{date} {rest[:3]} {rest[3:]}",
        f"{dd} {mm} {yy} {rest}",
        f"{date}/{rest}",
        f"{date}\u2013{rest}",
        f"{date[:3]}\u200b{date[3:]}{rest}",
    ]


def digit_pattern(number: str) -> re.Pattern[bytes]:
    """The digits in order with up to six non-digit bytes between each, in any file's bytes."""
    return re.compile(rb"\D{0,6}".join(re.escape(d.encode()) for d in number))


# An escape between two digits (JSON/Python \u200b, an HTML &#8203;) carries digits of its own:
# each counts as one placeholder byte.
_ESCAPE = re.compile(rb"\\u[0-9a-fA-F]{4}|\\x[0-9a-fA-F]{2}|&#[xX]?[0-9a-fA-F]{1,6};")


def _unescaped(data: bytes) -> bytes:
    return _ESCAPE.sub(b"~", data)


def files_holding(folder: Path, number: str) -> list[str]:
    pattern = digit_pattern(number)
    hits = []
    for path in sorted(folder.rglob("*")):
        relative = str(path.relative_to(folder))
        if pattern.search(relative.encode()) or (path.is_file() and pattern.search(_unescaped(path.read_bytes()))):
            hits.append(relative)
    return hits


# --- rendering ----------------------------------------------------------------------------------

_MARKDOWN_TAGS = {
    "p", "a", "em", "strong", "code", "pre", "blockquote", "ul", "ol", "li", "h1", "h2", "h3", "h4",
    "h5", "h6", "hr", "br", "table", "thead", "tbody", "tr", "th", "td", "del", "s",
}  # fmt: skip


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.links: list[str] = []

    def handle_starttag(self, tag, attrs) -> None:  # type: ignore[no-untyped-def]
        self.tags.append(tag)
        if tag == "a":
            self.links.append(dict(attrs).get("href") or "")


def unsafe_rendering(markdown: str, own_routes: tuple[str, ...] = OWN_ROUTES) -> list[str]:
    """What is unsafe in ``markdown`` when rendered with raw HTML on and no URL filter."""
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark", {"html": True}).enable("table")
    md.validateLink = lambda url: True
    parsed = _Tags()
    parsed.feed(md.render(markdown))
    problems = [f"<{tag}>" for tag in parsed.tags if tag not in _MARKDOWN_TAGS]
    for href in parsed.links:
        lowered = href.lower()
        if lowered.startswith("//") or not lowered.startswith(("https://", "http://", *own_routes)):
            problems.append(f"link to {href!r}")
    return problems


# --- checks without an account --------------------------------------------------------------------


def check_forged_header(base: str) -> Result:
    headers = {
        "X-Forwarded-User": "kari.nordmann@fjordbyen.no",
        "X-Forwarded-Groups": "admin",
        "X-Forwarded-For": "127.0.0.1",
        "X-Real-IP": "127.0.0.1",
    }
    response = httpx.post(f"{base}/auth/header", headers=headers, timeout=30)
    signed_in = any(name.startswith("access_token") for name in response.cookies)
    ok = response.status_code in (400, 401, 403, 404) and not signed_in
    return Result("forged-header", ok, f"POST /auth/header with forged headers -> {response.status_code}")


def check_cors(base: str) -> Result:
    problems = []
    preflight = httpx.options(
        f"{base}/project/threads",
        headers={
            "Origin": FOREIGN_ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
        timeout=30,
    )
    if preflight.headers.get("access-control-allow-origin") in (FOREIGN_ORIGIN, "*"):
        problems.append("preflight from a foreign origin allowed")
    simple = httpx.get(f"{base}/auth/config", headers={"Origin": FOREIGN_ORIGIN}, timeout=30)
    if simple.headers.get("access-control-allow-origin") in (FOREIGN_ORIGIN, "*"):
        problems.append("GET from a foreign origin allowed")
    handshake = f"{base}{SOCKET_PATH}/?EIO=4&transport=polling"
    foreign = httpx.get(handshake, headers={"Origin": FOREIGN_ORIGIN}, timeout=30)
    if foreign.status_code < 400:
        problems.append(f"websocket handshake from a foreign origin answered {foreign.status_code}")
    own = httpx.get(handshake, headers={"Origin": base}, timeout=30)
    if own.status_code >= 400:
        problems.append(f"websocket handshake from the chat's own origin refused ({own.status_code})")
    detail = "; ".join(problems) or (
        f"foreign origin: preflight {preflight.status_code} without permission, websocket {foreign.status_code}"
    )
    return Result("cors", not problems, detail)


def check_private_files(data_dir: Path) -> Result:
    problems = []
    if stat.S_IMODE(data_dir.stat().st_mode) & stat.S_IRWXO:
        problems.append(f"{data_dir} is open to other accounts ({oct(stat.S_IMODE(data_dir.stat().st_mode))})")
    checked = []
    for name in PRIVATE_FILES:
        path = data_dir / name
        if path.exists():
            checked.append(name)
            mode = stat.S_IMODE(path.stat().st_mode)
            if mode & (stat.S_IRWXG | stat.S_IRWXO):
                problems.append(f"{name} is {oct(mode)}, not 0o600")
    for path in sorted(data_dir.rglob("*")):
        if path.is_file() and stat.S_IMODE(path.stat().st_mode) & stat.S_IWOTH:
            problems.append(f"{path.relative_to(data_dir)} is writable by everyone")
    return Result("private-files", not problems, "; ".join(problems) or f"0600: {', '.join(checked) or 'none present'}")


# --- a chat as a signed-in user -----------------------------------------------------------------------


@dataclass
class Chat:
    cookie: str
    session_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    thread_id: str | None = None
    answers: dict[str, str] = field(default_factory=dict)  # assistant message id -> content as last shown
    shown: list[str] = field(default_factory=list)  # every assistant content the browser would have rendered
    element_keys: list[str] = field(default_factory=list)


def sign_in_with_password(base: str, user: str, password: str) -> str:
    response = httpx.post(f"{base}/login", data={"username": user, "password": password}, timeout=60)
    response.raise_for_status()
    return _cookie_header(response)


def sign_in_through_proxy(base: str, address: str, user: str, groups: str, secret: str, secret_header: str) -> str:
    headers = {"X-Forwarded-User": user, "X-Forwarded-Groups": groups}
    if secret:
        headers[secret_header] = secret
    # Bind the client to the proxy's address, as the proxy itself would connect.
    with httpx.Client(transport=httpx.HTTPTransport(local_address=address), timeout=60) as client:
        response = client.post(f"{base}/auth/header", headers=headers)
    response.raise_for_status()
    return _cookie_header(response)


def _cookie_header(response: httpx.Response) -> str:
    cookies = {name: value for name, value in response.cookies.items() if name.startswith("access_token")}
    if not cookies:
        raise RuntimeError(f"sign-in set no session cookie (status {response.status_code})")
    return "; ".join(f"{name}={value}" for name, value in cookies.items())


async def ask(base: str, chat: Chat, question: str, timeout_s: float = ANSWER_TIMEOUT_S) -> str:
    """Ask one question over the chat's websocket, as the browser does; returns the answer's message id."""
    import socketio

    client = socketio.AsyncClient(reconnection=False)
    done = asyncio.Event()
    asked = asyncio.Event()

    def show(step: dict) -> None:
        if step.get("type") == "assistant_message":
            chat.answers[step["id"]] = step.get("output") or ""
            chat.shown.append(chat.answers[step["id"]])

    @client.on("*")
    async def _any(event: str, data=None) -> None:  # type: ignore[no-untyped-def]
        if event in ("new_message", "update_message", "stream_start"):
            show(data)
        elif event == "stream_token" and data.get("id") in chat.answers and not data.get("isInput"):
            content = data["token"] if data.get("isSequence") else chat.answers[data["id"]] + data["token"]
            chat.answers[data["id"]] = content
            chat.shown.append(content)
        elif event == "element" and data.get("chainlitKey"):
            chat.element_keys.append(data["chainlitKey"])
        elif event == "first_interaction":
            chat.thread_id = data.get("thread_id")
        elif event == "task_end" and asked.is_set():
            done.set()

    await client.connect(
        base,
        socketio_path=SOCKET_PATH,
        transports=["websocket"],
        headers={"Cookie": chat.cookie},
        auth={"clientType": "webapp", "sessionId": chat.session_id, "threadId": None, "userEnv": "{}"},
        wait_timeout=30,
    )
    try:
        await client.emit("connection_successful")
        await asyncio.sleep(1.0)  # on_chat_start runs first, as in the browser
        message_id = str(uuid.uuid4())
        now = dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z")
        asked.set()
        await client.emit(
            "client_message",
            {
                "message": {
                    "id": message_id,
                    "threadId": chat.thread_id or "",
                    "name": "user",
                    "type": "user_message",
                    "output": question,
                    "createdAt": now,
                },
                "fileReferences": [],
            },
        )
        await asyncio.wait_for(done.wait(), timeout_s)
        answer_ids = list(chat.answers)
        if not answer_ids:
            raise RuntimeError("the chat sent no answer")
        return answer_ids[-1]
    finally:
        await asyncio.sleep(1.0)  # let the chat persist the run before the session ends
        await client.disconnect()


def rate(base: str, chat: Chat, message_id: str, comment: str) -> None:
    response = httpx.put(
        f"{base}/feedback",
        headers={"Cookie": chat.cookie},
        json={
            "feedback": {"forId": message_id, "value": 0, "threadId": chat.thread_id, "comment": comment},
            "sessionId": chat.session_id,
        },
        timeout=60,
    )
    response.raise_for_status()


def served_thread(base: str, chat: Chat) -> str:
    """The thread as the chat serves it back from its history (JSON text)."""
    deadline = time.monotonic() + 30
    while True:
        response = httpx.get(f"{base}/project/thread/{chat.thread_id}", headers={"Cookie": chat.cookie}, timeout=30)
        if response.status_code == 200 and response.json().get("steps"):
            return response.text
        if time.monotonic() > deadline:
            raise RuntimeError(f"the chat did not serve thread {chat.thread_id} ({response.status_code})")
        time.sleep(0.5)


def check_chat(
    base: str,
    cookie: str,
    data_dir: Path | None,
    also_scan: list[Path],
    expect_admin: bool = False,
) -> list[Result]:
    """Sign-in result, identity numbers after a chat, and safe rendering of what was shown."""
    results = []
    user = httpx.get(f"{base}/user", headers={"Cookie": cookie}, timeout=30).json()
    metadata = user.get("metadata") or {}
    if isinstance(metadata, str):
        metadata = json.loads(metadata)
    admin = bool(metadata.get("is_admin"))
    results.append(
        Result(
            "sign-in",
            admin == expect_admin,
            f"signed in as {user.get('identifier')} with access groups {metadata.get('access_groups')}, admin={admin}",
        )
    )

    number = synthetic_fnr()
    typed = ", ".join(spellings(number))
    chat = Chat(cookie=cookie)
    question = f"Hvor mye paracetamol kan gis ved feber? Pasienten har fødselsnummer {typed}."
    answer_id = asyncio.run(ask(base, chat, question))
    rate(base, chat, answer_id, f"Svaret gjaldt pasient {typed}")
    history = served_thread(base, chat)

    problems = []
    if digit_pattern(number).search(history.encode()) or "fødselsnummer fjernet" not in history:
        problems.append("the history the chat serves back holds the number (or no masking mark)")
    for folder in [*([data_dir] if data_dir else []), *also_scan]:
        problems += [f"{folder / hit}" for hit in files_holding(folder, number)]
    scanned = ", ".join(str(f) for f in [*([data_dir] if data_dir else []), *also_scan]) or "no folder"
    results.append(
        Result(
            "no-identity-number",
            not problems,
            "; ".join(problems) or f"{len(spellings(number))} spellings asked and rated; none in {scanned} or the history",
        )
    )

    rendered = list(chat.shown)
    for key in chat.element_keys:
        response = httpx.get(
            f"{base}/project/file/{key}", params={"session_id": chat.session_id}, headers={"Cookie": cookie}, timeout=30
        )
        if response.status_code == 200 and response.headers.get("content-type", "").startswith("text"):
            rendered.append(response.text)
    unsafe = sorted({problem for content in rendered for problem in unsafe_rendering(content)})
    results.append(
        Result(
            "safe-rendering",
            not unsafe,
            "; ".join(unsafe) or f"{len(rendered)} message states and panels render without images, HTML or foreign links",
        )
    )
    return results


def run_checks(args: argparse.Namespace) -> list[Result]:
    base = args.url.rstrip("/")
    results = [check_forged_header(base), check_cors(base)]
    cookie = None
    if args.user and args.password:
        cookie = sign_in_with_password(base, args.user, args.password)
    elif args.proxy_user:
        cookie = sign_in_through_proxy(
            base, args.proxy_address, args.proxy_user, args.proxy_groups, args.proxy_secret, args.proxy_secret_header
        )
    if cookie:
        results += check_chat(base, cookie, args.data_dir, args.also_scan, expect_admin=args.expect_admin)
    if args.data_dir:
        results.append(check_private_files(args.data_dir))
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True, help="The chat, e.g. http://127.0.0.1:8000")
    parser.add_argument("--data-dir", type=Path, help="The chat's data folder (FAGPRAT_DATA_DIR), to scan")
    parser.add_argument("--also-scan", type=Path, action="append", default=[], help="Another folder to scan")
    parser.add_argument("--user", help="Password sign-in: a test account")
    parser.add_argument("--password", help="Password sign-in: its password")
    parser.add_argument("--proxy-user", help="Header sign-in: the user the proxy names")
    parser.add_argument("--proxy-groups", default="admin", help="Header sign-in: raw groups the proxy sends")
    parser.add_argument("--proxy-address", default="127.0.0.1", help="Header sign-in: the proxy's source address")
    parser.add_argument("--proxy-secret", default="", help="Header sign-in: the shared secret, if configured")
    parser.add_argument("--proxy-secret-header", default="X-Fagprat-Proxy-Secret")
    parser.add_argument("--expect-admin", action="store_true", help="The test account is a mapped admin")
    args = parser.parse_args(argv)
    results = run_checks(args)
    for result in results:
        print(f"{'PASS' if result.ok else 'FAIL'} {result.name}: {result.detail}")
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
