"""The bot's own settings: getMe, commands by scope and language, menu buttons, name and descriptions."""

from __future__ import annotations

import json
from typing import Any

from sandbox.protocol import BOT_FIRST_NAME, ApiError, Handler, MethodTable, Params, Upload
from sandbox.state import State


def scope_key(scope: Any, language_code: Any) -> tuple[str, str]:
    scope_value = scope if isinstance(scope, dict) else {"type": "default"}
    language = language_code if isinstance(language_code, str) else ""
    return json.dumps(scope_value, sort_keys=True), language


class BotSettings:
    def __init__(self, state: State) -> None:
        self.state = state
        self.commands_by_scope: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.menu_buttons: dict[int | None, dict[str, Any]] = {}
        self.bot_texts: dict[tuple[str, str], str] = {}

    def register(self, table: MethodTable) -> None:
        table.update(
            {
                "getMe": self.get_me,
                "logOut": self.true,
                "close": self.true,
                "setMyCommands": self.set_my_commands,
                "getMyCommands": self.get_my_commands,
                "deleteMyCommands": self.delete_my_commands,
                "setChatMenuButton": self.set_chat_menu_button,
                "getChatMenuButton": self.get_chat_menu_button,
            }
        )
        for kind, suffix in (("description", "Description"), ("short_description", "ShortDescription")):
            table[f"setMy{suffix}"] = self._set_bot_text(kind)
            table[f"getMy{suffix}"] = self._get_bot_text(kind)
        table["setMyName"] = self._set_bot_text("name")
        table["getMyName"] = self._get_bot_text("name")

    async def true(self, params: Params, uploads: dict[str, Upload]) -> bool:
        return True

    async def get_me(self, params: Params, uploads: dict[str, Upload]) -> dict[str, Any]:
        return {
            **self.state.bot_user,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    async def set_my_commands(self, params: Params, uploads: dict[str, Upload]) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list):
            raise ApiError(400, 'Bad Request: field "commands" must be an Array')
        key = scope_key(params.get("scope"), params.get("language_code"))
        self.commands_by_scope[key] = [c for c in commands if isinstance(c, dict)]
        return True

    async def get_my_commands(self, params: Params, uploads: dict[str, Upload]) -> list[dict[str, Any]]:
        return self.commands_by_scope.get(scope_key(params.get("scope"), params.get("language_code")), [])

    async def delete_my_commands(self, params: Params, uploads: dict[str, Upload]) -> bool:
        self.commands_by_scope.pop(scope_key(params.get("scope"), params.get("language_code")), None)
        return True

    async def set_chat_menu_button(self, params: Params, uploads: dict[str, Upload]) -> bool:
        chat_id = params.get("chat_id")
        if chat_id is not None:
            self.state.chat_state(params)
        button = params.get("menu_button")
        self.menu_buttons[chat_id if isinstance(chat_id, int) else None] = (
            button if isinstance(button, dict) else {"type": "default"}
        )
        return True

    async def get_chat_menu_button(self, params: Params, uploads: dict[str, Upload]) -> dict[str, Any]:
        chat_id = params.get("chat_id")
        key = chat_id if isinstance(chat_id, int) else None
        return self.menu_buttons.get(key) or self.menu_buttons.get(None) or {"type": "default"}

    def _set_bot_text(self, kind: str) -> Handler:
        async def handler(params: Params, uploads: dict[str, Upload]) -> bool:
            language = params.get("language_code")
            key = (kind, language if isinstance(language, str) else "")
            value = params.get(kind)
            if isinstance(value, str) and value:
                self.bot_texts[key] = value
            else:
                self.bot_texts.pop(key, None)
            return True

        return handler

    def _get_bot_text(self, kind: str) -> Handler:
        async def handler(params: Params, uploads: dict[str, Upload]) -> dict[str, str]:
            language = params.get("language_code")
            key = (kind, language if isinstance(language, str) else "")
            value = self.bot_texts.get(key, self.bot_texts.get((kind, ""), ""))
            if kind == "name" and not value:
                value = BOT_FIRST_NAME
            return {kind: value}

        return handler
