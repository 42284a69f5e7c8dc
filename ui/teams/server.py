"""The Teams bot's HTTP endpoint: the Teams SDK app on uvicorn.

``POST /api/messages`` receives Bot Framework activities. With an app id and
password configured, every request must carry a Bot Framework JWT (the SDK
validates it; anything else gets 401 before a handler runs). Without
credentials the bot refuses to start, unless ``teams_dev_mode`` is set for
local testing, and then warns. ``GET /healthz`` serves container health checks.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

import uvicorn
from fastapi import FastAPI
from microsoft_teams.apps import App, FastAPIAdapter

from rag.errors import ConfigurationError
from rag.settings import Settings
from ui.access import load_group_map
from ui.feedback import FeedbackStore
from ui.teams.bot import FagpratBot, ServiceFactory
from ui.teams.identity import IdentityResolver
from ui.teams.memory import ConversationMemory

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
    max_conversations = settings.teams_max_conversations
    memory = ConversationMemory(
        max_conversations=max_conversations,
        # A turn is a question and its answer; the service uses the last condense_history_turns.
        max_turns=2 * settings.condense_history_turns,
        max_answers=settings.teams_max_remembered_answers,
    )
    identity = IdentityResolver(
        load_group_map(settings.group_map_file), settings.default_access_groups, max_users=max_conversations
    )
    bot = FagpratBot(
        settings,
        service_factory or _default_service_factory(settings),
        FeedbackStore(settings.resolved_chat_database_url),
        identity,
        memory,
    )

    fastapi = FastAPI(title="fagprat Teams bot")
    fastapi.get(HEALTH_ENDPOINT)(lambda: {"status": "ok"})
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
    return TeamsServer(app=app, bot=bot, server=holder["server"], port=port)


def serve(settings: Settings, host: str, port: int) -> None:
    """Run the Teams bot until interrupted (``fagprat teams``)."""
    server = create_server(settings, host, port)
    logger.info("Teams bot listening on http://%s:%s%s", host, port, MESSAGING_ENDPOINT)
    server.run()
