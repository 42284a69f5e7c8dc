"""The Teams bot's HTTP endpoint: the Teams SDK app on uvicorn.

``POST /api/messages`` receives Bot Framework activities. With an app id and
password configured, every request must carry a Bot Framework JWT (the SDK
validates it; anything else gets 401 before a handler runs). Without
credentials the bot refuses to start, unless ``teams_dev_mode`` is set for
local testing, and then warns. With Graph credentials, the bot checks at start
that Entra ID accepts them and that the app may read group memberships; a
rejected secret or missing consent stops the start with a clear error.
``GET /healthz`` serves container health checks (with the answer queue's state).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any

import uvicorn
from fastapi import FastAPI
from microsoft_teams.apps import App, FastAPIAdapter

from rag.errors import ConfigurationError
from rag.models import Passage
from rag.settings import Settings
from ui.access import GroupMapFile
from ui.documents import document_url
from ui.feedback import FeedbackStore
from ui.teams.admission import AnswerQueue, answer_slots
from ui.teams.bot import FagpratBot, ServiceFactory
from ui.teams.cards import DocumentLink
from ui.teams.graph import GraphClient, GraphRejected, GraphUnavailable
from ui.teams.history import ConversationHistory
from ui.teams.identity import EntraGroupDirectory, IdentityResolver
from ui.teams.memory import SentAnswers

logger = logging.getLogger(__name__)

MESSAGING_ENDPOINT = "/api/messages"
HEALTH_ENDPOINT = "/healthz"


def auth_options(settings: Settings) -> dict[str, Any]:
    """The SDK's credential options, or a clear error when they are incomplete."""
    app_id = settings.teams_app_id.strip()
    password = settings.teams_app_password.get_secret_value().strip() if settings.teams_app_password else ""
    tenant_id = settings.teams_tenant_id.strip()
    if app_id and password:
        return {
            "client_id": app_id,
            "client_secret": password,
            # Single-tenant bots get tokens from their own tenant; empty = multi-tenant.
            "tenant_id": tenant_id or None,
            "dangerously_allow_unauthenticated_requests": False,
        }
    if app_id or password:
        raise ConfigurationError(
            "Teams bot: set both FAGPRAT_TEAMS_APP_ID and FAGPRAT_TEAMS_APP_PASSWORD (or neither, in dev mode)",
            user_message="Teams-boten mangler app-id eller hemmelighet. Sett begge, eller ingen i utviklingsmodus.",
        )
    if not settings.teams_dev_mode:
        raise ConfigurationError(
            "Teams bot: no FAGPRAT_TEAMS_APP_ID / FAGPRAT_TEAMS_APP_PASSWORD configured. "
            "Set them, or FAGPRAT_TEAMS_DEV_MODE=true for local testing without authentication.",
            user_message=(
                "Teams-boten har ingen legitimasjon (FAGPRAT_TEAMS_APP_ID og FAGPRAT_TEAMS_APP_PASSWORD). "
                "Sett dem, eller FAGPRAT_TEAMS_DEV_MODE=true for lokal testing."
            ),
        )
    logger.warning(
        "Teams bot in DEV MODE: requests to %s are NOT authenticated. Never expose this endpoint.",
        MESSAGING_ENDPOINT,
    )
    return {"dangerously_allow_unauthenticated_requests": True}


@dataclass
class TeamsServer:
    """The bot app and the uvicorn server that carries it."""

    app: App
    bot: FagpratBot
    server: uvicorn.Server
    port: int

    @property
    def fastapi(self) -> FastAPI:
        return self.server.config.app

    def run(self) -> None:
        """Serve until stopped (blocking)."""
        asyncio.run(self.app.start(self.port))

    def request_stop(self) -> None:
        """Ask the server to finish (thread-safe; `run` then returns)."""
        self.server.should_exit = True

    @property
    def started(self) -> bool:
        return self.server.started


def _default_service_factory(settings: Settings) -> ServiceFactory:
    def factory() -> Any:
        from rag.service import get_service  # loads models: only when the first question arrives

        return get_service(settings)

    return factory


def _run_coroutine(coroutine: Coroutine[Any, Any, Any]) -> Any:
    """Run a coroutine to the end from synchronous code, even inside a running event loop."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def check_graph(settings: Settings) -> None:
    """Start-up check of the Graph credentials and consent (single-tenant bots).

    Rejected credentials or missing consent are a `ConfigurationError`; an
    unreachable Entra ID or Graph only a warning (users get the least access
    until it answers).
    """
    graph = GraphClient.from_settings(settings)
    tenant = settings.teams_tenant_id.strip()
    if graph is None:
        return
    if not tenant:
        logger.info("Multi-tenant bot: Graph credentials are checked at the first question from each tenant")
        return

    async def verify() -> None:
        try:
            await graph.verify(tenant)
        finally:
            await graph.aclose()

    try:
        _run_coroutine(verify())
    except GraphRejected as err:
        raise ConfigurationError(
            f"Teams bot: Microsoft Graph cannot be used for group membership: {err}. Fix the app's secret "
            "(FAGPRAT_TEAMS_GRAPH_CLIENT_SECRET or FAGPRAT_TEAMS_APP_PASSWORD) or its admin consent for "
            "GroupMember.Read.All (docs/teams.md), or set FAGPRAT_TEAMS_GRAPH_GROUPS=false.",
            user_message=(
                "Teams-boten får ikke lese gruppemedlemskap fra Microsoft Graph: hemmeligheten er feil, "
                "eller administratorsamtykke for GroupMember.Read.All mangler. Se docs/teams.md."
            ),
        ) from err
    except GraphUnavailable as err:
        logger.warning("Microsoft Graph is not reachable at start (%s); users get the least access until it is", err)


def _entra_directory(settings: Settings, max_users: int) -> EntraGroupDirectory | None:
    graph = GraphClient.from_settings(settings)
    if graph is None:
        why = "turned off" if not settings.teams_graph_groups else "no app credentials"
        logger.info(
            "Teams users' Entra groups are not read (%s): the group map's 'groups:' entries do not apply in Teams", why
        )
        return None
    return EntraGroupDirectory(
        graph, ttl_s=settings.teams_graph_cache_ttl_s, max_users=max_users, tenant_id=settings.teams_tenant_id
    )


def _document_link(settings: Settings) -> DocumentLink:
    def link(passage: Passage) -> str | None:
        return document_url(settings, passage)

    return link


def create_server(
    settings: Settings,
    host: str = "127.0.0.1",
    port: int | None = None,
    *,
    service_factory: ServiceFactory | None = None,
) -> TeamsServer:
    """Build the bot app on `host`:`port` (default: settings.teams_port) without starting it."""
    port = port or settings.teams_port
    options = auth_options(settings)
    check_graph(settings)
    max_users = settings.teams_max_conversations
    identity = IdentityResolver(
        settings, GroupMapFile(settings.group_map_file), _entra_directory(settings, max_users), max_users=max_users
    )
    history = ConversationHistory(
        settings.resolved_chat_database_url,
        # A turn is a question and its answer; the service uses the last condense_history_turns.
        max_turns=2 * settings.condense_history_turns,
        max_age_h=settings.teams_history_max_age_h,
    )
    queue = AnswerQueue(
        answer_slots(settings),
        max_pending_per_conversation=settings.teams_max_queued_per_conversation,
        busy_notice_s=settings.teams_busy_notice_s,
    )
    bot = FagpratBot(
        settings,
        service_factory or _default_service_factory(settings),
        FeedbackStore(settings.resolved_chat_database_url),
        identity,
        history,
        SentAnswers(settings.teams_max_remembered_answers),
        queue,
        document_link=_document_link(settings),
    )

    fastapi = FastAPI(title="fagprat Teams bot")
    fastapi.get(HEALTH_ENDPOINT)(lambda: {"status": "ok", "answers": queue.stats()})
    holder: dict[str, uvicorn.Server] = {}

    def server_factory(asgi: FastAPI) -> uvicorn.Server:
        holder["server"] = uvicorn.Server(uvicorn.Config(app=asgi, host=host, port=port, log_level="info"))
        return holder["server"]

    app = App(
        **options,
        http_server_adapter=FastAPIAdapter(app=fastapi, server_factory=server_factory),
        messaging_endpoint=MESSAGING_ENDPOINT,
    )
    bot.register(app)
    logger.info("Teams bot: %d answer slot(s), %s", queue.slots, settings.resolved_chat_database_url.split("://")[0])
    return TeamsServer(app=app, bot=bot, server=holder["server"], port=port)


def serve(settings: Settings, host: str, port: int) -> None:
    """Run the Teams bot until interrupted (``fagprat teams``)."""
    server = create_server(settings, host, port)
    logger.info("Teams bot listening on http://%s:%s%s", host, port, MESSAGING_ENDPOINT)
    server.run()
