"""The HTTP control API of a sandbox run as its own process (``python -m sandbox``), through which
out-of-process benches act as users and read the sandbox's counters."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from sandbox.protocol import dumps

if TYPE_CHECKING:
    from sandbox.server import BotApiSandbox


def add_routes(app: web.Application, sandbox: BotApiSandbox) -> None:
    control = _Control(sandbox)
    app.router.add_post("/sandbox/users/{user_id}/{action}", control.action)
    app.router.add_get("/sandbox/users/{user_id}/messages", control.messages)
    app.router.add_get("/sandbox/state", control.state)


class _Control:
    def __init__(self, sandbox: BotApiSandbox) -> None:
        self.sandbox = sandbox

    async def action(self, request: web.Request) -> web.StreamResponse:
        """Act as a simulated user: ``POST /sandbox/users/<id>/<action>`` with a JSON object.

        Actions: ``text`` (``text``, ``reply_to_message_id``), ``command`` (``command``, ``args``),
        ``press`` (``message_id``, ``callback_data``), ``document`` (``text`` content, ``file_name``),
        ``photo`` (``caption``).
        """
        try:
            user_id = int(request.match_info["user_id"])
            body = await request.json() if request.body_exists else {}
            if not isinstance(body, dict):
                raise TypeError("the body must be a JSON object")
            user = self.sandbox.user(user_id, first_name=str(body.get("first_name", "Aino")))
            action = request.match_info["action"]
            result: Any
            if action == "text":
                result = await user.send_text(str(body["text"]), body.get("reply_to_message_id"))
            elif action == "command":
                result = await user.send_command(str(body["command"]), str(body.get("args", "")))
            elif action == "press":
                query_id = await user.press(int(body["message_id"]), str(body["callback_data"]))
                result = {"callback_query_id": query_id}
            elif action == "document":
                content = str(body.get("text", "")).encode()
                result = await user.send_document(
                    content, str(body.get("file_name", "file.txt")), "text/plain"
                )
            elif action == "photo":
                result = await user.send_photo(body.get("caption"))
            else:
                return web.json_response({"ok": False, "description": f"unknown action {action}"}, status=404)
        except (KeyError, TypeError, ValueError, LookupError) as error:
            return web.json_response({"ok": False, "description": repr(error)}, status=400)
        return web.json_response({"ok": True, "result": result}, dumps=dumps)

    async def messages(self, request: web.Request) -> web.StreamResponse:
        user_id = request.match_info["user_id"]
        known = user_id.lstrip("-").isdigit() and int(user_id) in self.sandbox.state.chats
        messages = self.sandbox.chat(int(user_id)).messages if known else []
        return web.json_response({"ok": True, "result": messages}, dumps=dumps)

    async def state(self, request: web.Request) -> web.StreamResponse:
        sandbox = self.sandbox
        state = {
            "stats": dict(sandbox.stats),
            "violations": sandbox.violations[-200:],
            "pending_update_count": sandbox.pending_update_count,
            "webhook": sandbox.webhook_url,
        }
        return web.json_response({"ok": True, "result": state}, dumps=dumps)
