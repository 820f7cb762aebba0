"""``callcircle serve``: uvicorn (uvloop, httptools) on the app of ``api.app``."""

from __future__ import annotations

import copy
import os
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from uvicorn.config import LOGGING_CONFIG

from api.app import create_app
from api.settings import CONFIG_ENV, Settings
from graph.snapshot import DATA_DIR_ENV


def app_factory() -> Starlette:
    """Entry point of each worker process: settings from the environment set by ``serve``."""
    return create_app(Settings.load(data_dir=os.environ.get(DATA_DIR_ENV)), quiet_gc=True)


def serve(*, data_dir: str | os.PathLike[str] | None, host: str = "127.0.0.1", port: int = 8000,
          workers: int = 1, config: str | os.PathLike[str] | None = None) -> None:
    settings = Settings.load(config, data_dir=data_dir)  # fail early on a bad config
    os.environ[DATA_DIR_ENV] = str(Path(settings.data_dir).resolve())
    if config is not None:
        os.environ[CONFIG_ENV] = str(Path(config).resolve())
    log_config = copy.deepcopy(LOGGING_CONFIG)
    log_config["loggers"]["callcircle"] = {"handlers": ["default"], "level": "INFO",
                                           "propagate": False}
    uvicorn.run(
        "api.server:app_factory", factory=True, host=host, port=port, workers=workers,
        loop="uvloop", http="httptools", lifespan="on", access_log=False,
        log_level="info", log_config=log_config, timeout_graceful_shutdown=10,
    )
