"""Files: documents and photos the bot sends (uploads, ``attach://`` parts or known file ids) and
getFile; the bytes are served by the server's download route."""

from __future__ import annotations

import mimetypes
from typing import Any

from sandbox.methods.messages import Messages
from sandbox.protocol import ApiError, MethodTable, Params, Upload
from sandbox.state import State, StoredFile

MAX_UPLOAD = 50 * 1024 * 1024
_MAX_PHOTO_UPLOAD = 10 * 1024 * 1024
_MAX_DOWNLOAD = 20 * 1024 * 1024


class Files:
    def __init__(self, state: State, messages: Messages) -> None:
        self.state = state
        self.messages = messages

    def register(self, table: MethodTable) -> None:
        table.update(
            {"sendDocument": self.send_document, "sendPhoto": self.send_photo, "getFile": self.get_file}
        )

    def _input_file(self, params: Params, uploads: dict[str, Upload], name: str) -> StoredFile:
        """Resolve an InputFile parameter: an upload, an ``attach://`` part or a known file id."""
        value = params.get(name)
        upload = uploads.get(name)
        if upload is None and isinstance(value, str) and value.startswith("attach://"):
            upload = uploads.get(value.removeprefix("attach://"))
        if upload is not None:
            limit = _MAX_PHOTO_UPLOAD if name == "photo" else MAX_UPLOAD
            if not upload.data:
                raise ApiError(400, "Bad Request: file must be non-empty")
            if len(upload.data) > limit:
                raise ApiError(413, "Request Entity Too Large")
            mime = upload.content_type or mimetypes.guess_type(upload.filename)[0]
            if name == "photo":
                mime = "image/jpeg"
            return self.state.register_file(name, upload.data, file_name=upload.filename, mime_type=mime)
        if isinstance(value, str) and value:
            stored = self.state.files.get(value)
            if stored is not None:
                return stored
            if value.startswith(("http://", "https://")):
                raise ApiError(400, "Bad Request: failed to get HTTP URL content")
            raise ApiError(400, "Bad Request: wrong file identifier/HTTP URL specified")
        raise ApiError(400, f"Bad Request: there is no {name} in the request")

    async def send_document(self, params: Params, uploads: dict[str, Upload]) -> dict[str, Any]:
        chat = self.messages.writable_chat(params, rate_limited=True)
        stored = self._input_file(params, uploads, "document")
        formatted = self.messages.format(params, "caption")
        message = self.messages.base_message(chat, params)
        document: dict[str, Any] = {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id}
        if stored.file_name:
            document["file_name"] = stored.file_name
        if stored.mime_type:
            document["mime_type"] = stored.mime_type
        document["file_size"] = stored.file_size
        message["document"] = document
        self.messages.add_caption(message, formatted)
        return self.messages.store(chat, message, params.get("reply_markup"))

    async def send_photo(self, params: Params, uploads: dict[str, Upload]) -> dict[str, Any]:
        chat = self.messages.writable_chat(params, rate_limited=True)
        stored = self._input_file(params, uploads, "photo")
        formatted = self.messages.format(params, "caption")
        if stored.photo_sizes is None:
            raise ApiError(400, "Bad Request: wrong file identifier/HTTP URL specified")
        message = self.messages.base_message(chat, params)
        message["photo"] = [dict(size) for size in stored.photo_sizes]
        self.messages.add_caption(message, formatted)
        return self.messages.store(chat, message, params.get("reply_markup"))

    async def get_file(self, params: Params, uploads: dict[str, Upload]) -> dict[str, Any]:
        file_id = params.get("file_id")
        stored = self.state.files.get(file_id) if isinstance(file_id, str) else None
        if stored is None:
            raise ApiError(400, "Bad Request: wrong file_id or the file is temporarily unavailable")
        if stored.file_size > _MAX_DOWNLOAD:
            raise ApiError(400, "Bad Request: file is too big")
        return {
            "file_id": file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": stored.file_size,
            "file_path": stored.file_path,
        }
