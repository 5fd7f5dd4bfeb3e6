"""Run the Bot API sandbox on its own: ``python -m sandbox --port 8081``.

Point the bot at it with ``TELEGRAM_API_URL=http://127.0.0.1:8081`` and the printed token, then act as
users over HTTP, e.g. ``curl -d '{"command": "start"}' http://127.0.0.1:8081/sandbox/users/42/command``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys

from sandbox.server import SANDBOX_TOKEN, BotApiSandbox


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--rate-limit", type=float, default=None, help="send* calls per second (429 past it)")
    parser.add_argument(
        "--per-chat-rate-limit", type=float, default=None, help="send* calls per chat per second"
    )
    parser.add_argument("--log-level", default="INFO")
    return parser.parse_args(argv)


async def _serve(args: argparse.Namespace) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signum, stop.set)
    sandbox = BotApiSandbox()
    await sandbox.start(args.host, args.port)
    try:
        sandbox.set_rate_limit(args.rate_limit, args.per_chat_rate_limit)
        sys.stdout.write(f"TELEGRAM_API_URL={sandbox.url}\nBOT_TOKEN={SANDBOX_TOKEN}\n")
        sys.stdout.flush()
        await stop.wait()
    finally:
        await sandbox.stop()
    logging.getLogger("sandbox").info(
        "stopped after %d requests with %d violations", len(sandbox.requests), len(sandbox.violations)
    )
    for violation in sandbox.violations:
        logging.getLogger("sandbox").warning("violation: %s", violation)


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    asyncio.run(_serve(args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
