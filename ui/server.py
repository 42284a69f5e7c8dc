"""Starting the web chat from Python (``fagprat ui``).

``chainlit run ui/app.py`` from the repository root works on its own; this
module does the same for the CLI, from any working directory: it points
Chainlit at the project's ``.chainlit/`` folder (Norwegian translations, config)
and ``chainlit.md`` through ``CHAINLIT_APP_ROOT``, hands the CLI's `Settings`
to the app, and runs Chainlit's own server start-up.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

from rag.settings import Settings, get_settings

logger = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
APP_PATH = Path(__file__).resolve().parent / "app.py"
APP_ROOT_ENV = "CHAINLIT_APP_ROOT"

_settings: Settings | None = None


def active_settings() -> Settings:
    """The settings ``run_chat`` was given, else the process-wide ones."""
    return _settings or get_settings()


def run_chat(settings: Settings, host: str = "127.0.0.1", port: int = 8000, headless: bool = True) -> None:
    """Run the chat until interrupted (blocks)."""
    global _settings
    _settings = settings
    # Chainlit reads its app root once, when it is first imported; a hospital
    # may point it at its own branded folder by setting the variable itself.
    os.environ.setdefault(APP_ROOT_ENV, str(PROJECT_ROOT))
    if "chainlit.config" in sys.modules:
        logger.warning("Chainlit was imported before run_chat: its config folder may not be %s", PROJECT_ROOT)
    os.environ["CHAINLIT_HOST"] = host
    os.environ["CHAINLIT_PORT"] = str(port)

    from chainlit.cli import run_chainlit
    from chainlit.config import config

    config.run.headless = headless
    run_chainlit(str(APP_PATH))
