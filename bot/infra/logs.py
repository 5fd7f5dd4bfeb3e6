"""Logging for operators: plain text or one JSON object a line, with context and nothing private.

Every record can carry the update id and process id it belongs to (bound with :func:`bind` in a
context variable, so concurrent updates never mix them up) and timings passed as ``extra``. Message
contents, names and the bot token never belong in a log line; as defence in depth a filter redacts
anything shaped like a bot token, and the configured token and webhook secret themselves, from the
message, its arguments and the traceback. httpx logs every request URL, and Bot API URLs contain the
token, so it stays at WARNING; PTB logs whole updates at DEBUG, so it stays at INFO; aiosqlite logs
every statement with its parameters (what people wrote, their chat ids) at DEBUG and SQLAlchemy's
engine does at INFO, so they stay above that. As defence in depth, :class:`LibraryDebugFilter` drops
the DEBUG records of every library whatever its level says: at ``LOG_LEVEL=DEBUG`` only Välitupa's
own modules, which never log contents, speak at DEBUG.

A database error's text can carry values even with SQLAlchemy's ``hide_parameters``: PostgreSQL's
``DETAIL`` (``Key (name)=(Aino Virtanen) already exists``, ``Failing row contains (…)``), which
asyncpg puts into its exception's text and so into every traceback, and asyncpg's ``invalid input for
query argument $1: 'value'``. The same filter leaves those values out; the SQLSTATE (a field of the
error, see :func:`database_error_fields`), the constraint name and the statement stay.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, TextIO

from bot.settings import Settings

# A bot token anywhere in a string, including inside ``/bot<token>/`` URL paths.
TOKEN_SHAPE = re.compile(r"\d{3,20}:[A-Za-z0-9_-]{30,64}")
REDACTED = "<redacted>"
LEFT_OUT = "<left out>"
# PostgreSQL's DETAIL up to the next part of the error or traceback (a value may hold newlines).
DB_DETAIL = re.compile(
    r"DETAIL:.*?(?=\n\n|\n(?:HINT:|\[SQL|\(Background on this error|Traceback|The above exception|"
    r"During handling)|\Z)",
    re.DOTALL,
)
# asyncpg's own check of a parameter quotes the value: "invalid input for query argument $1: 'x' (…)".
DB_ARGUMENT = re.compile(r"(invalid input for query argument \$\d+: ).*?(?= \(|$)", re.MULTILINE)
# Secrets shorter than this are not searched for literally: redacting every "abc" helps nobody.
MIN_LITERAL_SECRET = 8

_log = logging.getLogger(__name__)

_context: contextvars.ContextVar[dict[str, object] | None] = contextvars.ContextVar(
    "valitupa_log_context", default=None
)

# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD = frozenset(
    vars(logging.LogRecord("x", logging.INFO, "x", 0, "x", None, None)).keys() | {"message", "asctime"}
)
_CONTEXT_FIELDS = ("instance", "update_id", "process_id")

# Loggers that say too much below these levels: URLs with the token, whole updates.
QUIET_LOGGERS = {
    "httpx": logging.WARNING,
    "httpcore": logging.WARNING,
    "telegram": logging.INFO,
    "alembic.runtime.plugins": logging.WARNING,
    "aiohttp.access": logging.WARNING,
    # The dispatcher runs every two seconds; APScheduler would say so twice each time.
    "apscheduler": logging.WARNING,
    # Statements with their parameters: texts people wrote, chat ids.
    "aiosqlite": logging.INFO,
    "asyncpg": logging.INFO,
    "sqlalchemy": logging.WARNING,
}
OWN_LOGGERS = ("bot", "handlers", "storage", "messages", "sandbox", "__main__", "tests", "bench")
"""Välitupa's own loggers: the only ones whose DEBUG records are written."""


def bind(**fields: object) -> contextvars.Token[dict[str, object] | None]:
    """Add fields (``update_id=…``, ``process_id=…``) to every record logged in this task from now on."""
    current = _context.get() or {}
    return _context.set({**current, **{key: value for key, value in fields.items() if value is not None}})


@contextmanager
def bound(**fields: object) -> Iterator[None]:
    """:func:`bind` for the duration of a ``with`` block."""
    token = bind(**fields)
    try:
        yield
    finally:
        _context.reset(token)


@contextmanager
def handling(update_id: int | None) -> Iterator[None]:
    """Bind the update id for everything logged while one update is handled, and log its timing.

    For the update processor: ``with handling(update.update_id): await coroutine``.
    """
    started = time.perf_counter()
    with bound(update_id=update_id):
        try:
            yield
        finally:
            _log.info(
                "update handled",
                extra={"duration_ms": round((time.perf_counter() - started) * 1000, 1)},
            )


def context_fields() -> dict[str, object]:
    return dict(_context.get() or {})


class ContextFilter(logging.Filter):
    """Copies the bound context onto each record, so both formatters can show it."""

    def __init__(self, **static: object) -> None:
        super().__init__()
        self.static = static

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in {**self.static, **context_fields()}.items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


class RedactingFilter(logging.Filter):
    """Removes bot tokens and known secrets from a record before any handler writes it."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets = sorted(
            {s for s in secrets if s and len(s) >= MIN_LITERAL_SECRET}, key=len, reverse=True
        )

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        text = DB_DETAIL.sub(f"DETAIL: {LEFT_OUT}", text)
        text = DB_ARGUMENT.sub(rf"\g<1>{LEFT_OUT}", text)
        return TOKEN_SHAPE.sub(REDACTED, text)

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            message = str(record.msg)
        record.msg = self.redact(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        for key, value in list(vars(record).items()):
            if key not in _STANDARD and isinstance(value, str):
                setattr(record, key, self.redact(value))
        return True


def database_error_fields(error: BaseException | None) -> dict[str, str]:
    """``sqlstate`` and ``constraint`` of a database error (through SQLAlchemy's wrapping and the
    exception chain), for a log line's fields: useful to the operator, and nothing personal."""
    fields: dict[str, str] = {}
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        for name, attribute in (("sqlstate", "sqlstate"), ("constraint", "constraint_name")):
            value = getattr(error, attribute, None)
            if isinstance(value, str) and value and name not in fields:
                fields[name] = value
        error = getattr(error, "orig", None) or error.__cause__
    return fields


class LibraryDebugFilter(logging.Filter):
    """Drops DEBUG records of loggers that are not Välitupa's own: a library may log what it
    handles (statements and their parameters, whole updates, request bodies) at that level."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.INFO:
            return True
        return record.name.split(".", 1)[0] in OWN_LOGGERS


class TextFormatter(logging.Formatter):
    """``time level logger: message [update_id=… process_id=… duration_ms=…]``."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = _extra_fields(record)
        fields.pop("instance", None)
        if not fields:
            return line
        suffix = " ".join(f"{key}={value}" for key, value in fields.items())
        first, newline, rest = line.partition("\n")
        return f"{first} [{suffix}]{newline}{rest}"


class JsonFormatter(logging.Formatter):
    """One JSON object a line: ``ts``, ``level``, ``logger``, ``msg``, context fields, extras, ``exc``."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        entry.update(_extra_fields(record))
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exc"] = record.exc_text
        if record.stack_info:
            entry["stack"] = record.stack_info
        return json.dumps(entry, ensure_ascii=False, default=str)


def _extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    fields: dict[str, Any] = {key: getattr(record, key) for key in _CONTEXT_FIELDS if hasattr(record, key)}
    for key, value in vars(record).items():
        if key not in _STANDARD and key not in fields and not key.startswith("_"):
            fields[key] = value
    return fields


def make_handler(
    settings: Settings, stream: TextIO | None = None, *, instance: str | None = None
) -> logging.Handler:
    """A stream handler with Välitupa's formatter, context and redaction, for ``settings``."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if settings.log_format == "json" else TextFormatter())
    secrets = [value.get_secret_value() for value in (settings.bot_token, settings.webhook_secret) if value]
    handler.addFilter(LibraryDebugFilter())
    handler.addFilter(ContextFilter(**({"instance": instance} if instance else {})))
    handler.addFilter(RedactingFilter(secrets))
    return handler


def configure_logging(
    settings: Settings, stream: TextIO | None = None, *, instance: str | None = None
) -> None:
    """Set up the root logger once for the whole process (the CLI calls this before anything else)."""
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "valitupa", False):
            root.removeHandler(old)
            old.close()
    handler = make_handler(settings, stream, instance=instance)
    handler.valitupa = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    level = logging.getLevelName(settings.log_level)
    root.setLevel(level)
    for name, floor in QUIET_LOGGERS.items():
        logging.getLogger(name).setLevel(max(floor, level))
    logging.captureWarnings(True)
