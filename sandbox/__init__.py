"""A local Telegram Bot API sandbox: a real PTB Application runs against it in tests and benchmarks.

See :class:`BotApiSandbox` for the server, :class:`SimulatedUser` for the users a test plays, and
:func:`validate_request` for the checks every request of the bot goes through.
"""

from sandbox.formatting import EntityParseError, FormattedText, parse_html, utf16_len
from sandbox.server import (
    BOT_FIRST_NAME,
    BOT_ID,
    BOT_USERNAME,
    SANDBOX_TOKEN,
    ApiError,
    BotApiSandbox,
    Hold,
    Misanswer,
    RecordedRequest,
    StoredFile,
    Upload,
)
from sandbox.users import ChatLog, SimulatedUser
from sandbox.validate import check_object, decode_params, load_spec, validate_request, validate_response

__all__ = [
    "BOT_FIRST_NAME",
    "BOT_ID",
    "BOT_USERNAME",
    "SANDBOX_TOKEN",
    "ApiError",
    "BotApiSandbox",
    "ChatLog",
    "EntityParseError",
    "FormattedText",
    "Hold",
    "Misanswer",
    "RecordedRequest",
    "SimulatedUser",
    "StoredFile",
    "Upload",
    "check_object",
    "decode_params",
    "load_spec",
    "parse_html",
    "utf16_len",
    "validate_request",
    "validate_response",
]
