"""The bot's logging as ``valitupa`` configures it, captured in a string for a test to search."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from contextlib import contextmanager

from bot.infra.logs import QUIET_LOGGERS, configure_logging
from bot.settings import Settings


@contextmanager
def captured_logs(settings: Settings) -> Iterator[io.StringIO]:
    """Configure logging from ``settings`` into a string; put the root logger back afterwards."""
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    saved_levels = {name: logging.getLogger(name).level for name in QUIET_LOGGERS}
    stream = io.StringIO()
    configure_logging(settings, stream)
    try:
        yield stream
    finally:
        for handler in list(root.handlers):
            if handler not in saved_handlers:
                root.removeHandler(handler)
                handler.close()
        root.setLevel(saved_level)
        for name, level in saved_levels.items():
            logging.getLogger(name).setLevel(level)
        logging.captureWarnings(False)
