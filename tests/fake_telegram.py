"""A fake Telegram Bot API server on 127.0.0.1, and builders for the updates Telegram sends.

It speaks HTTP/1.1 with keep-alive like the real one (a fake that closes every connection hides
PTB's "Event loop is closed" bug), takes PTB's form-encoded and multipart requests, records every
call (uploads with their bytes: sendPhoto, sendVideo, sendAudio), keeps each chat message's current text and
inline keyboard (an edit without ``reply_markup`` removes it, as Telegram does), answers callback queries, serves
getFile and file downloads (refusing files over the public API's 20 MB, like Telegram), and queues updates
for getUpdates long polls.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

TOKEN = "123456:TEST-token_for-the-fake"
BOT_USER = {"id": 123456, "is_bot": True, "first_name": "PRSNL", "username": "prsnl_test_bot"}
PUBLIC_DOWNLOAD_LIMIT = 20 * 1024 * 1024
# values PTB sends as plain strings; every other form value is JSON
TEXT_FIELDS = {"text", "caption", "file_id", "url", "secret_token", "parse_mode", "callback_query_id"}


TEXT_LIMIT = 4096  # characters of one message's text (the Bot API's sendMessage and editMessageText)


class ApiError(Exception):
    def __init__(self, code: int, description: str, parameters: dict | None = None):
        super().__init__(description)
        self.code, self.description, self.parameters = code, description, parameters


class FakeBotApi:
    def __init__(self, token: str = TOKEN, *, download_limit: int | None = PUBLIC_DOWNLOAD_LIMIT):
        self.token = token
        self.download_limit = download_limit
        self.calls: list[tuple[str, dict]] = []
        self.messages: dict[tuple[int, int], dict] = {}
        self.files: dict[str, dict] = {}
        self.webhook: dict | None = None
        self.deleted: set[tuple[int, int]] = set()  # (chat, message) of the person's messages they deleted
        self.connections: set[tuple[str, int]] = set()
        self._updates: list[dict] = []
        self._failures: dict[str, list[ApiError]] = {}
        self._ids = itertools.count(1000)
        self._changed = threading.Condition()
        self._server: ThreadingHTTPServer | None = None

    # --- lifecycle -----------------------------------------------------------------------------
    def start(self) -> FakeBotApi:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, name="fake-telegram", daemon=True).start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    # --- what tests set up and read --------------------------------------------------------------
    def add_file(self, file_id: str, content: bytes | Path, *, unique_id: str, name: str = "file.bin",
                 size: int | None = None) -> None:
        data = content.read_bytes() if isinstance(content, Path) else content
        self.files[file_id] = {"data": data, "file_unique_id": unique_id, "file_size": size or len(data),
                               "file_path": f"documents/{unique_id}/{name}"}

    def flood_control(self, method: str, *, times: int, retry_after: int = 1) -> None:
        """The next ``times`` calls of ``method`` answer 429 Too Many Requests, as Telegram's flood control does."""
        self._failures[method] = [ApiError(429, f"Too Many Requests: retry after {retry_after}",
                                           {"retry_after": retry_after}) for _ in range(times)]

    def refuse_once(self, method: str, when, error: ApiError) -> list[dict]:
        """The first call of ``method`` (snake case) whose params ``when`` accepts answers ``error``; the refused
        params are listed in what this returns."""
        answer, refused = getattr(self, f"_{method}"), []

        def handler(params: dict):
            if not refused and when(params):
                refused.append(params)
                raise error
            return answer(params)

        setattr(self, f"_{method}", handler)
        return refused

    def push_update(self, update: dict) -> None:
        with self._changed:
            self._updates.append(update)
            self._changed.notify_all()

    def calls_of(self, method: str) -> list[dict]:
        return [params for name, params in self.calls if name == method]

    def texts(self, chat_id: int) -> list[str]:
        """The current text of each text message the bot sent to the chat, oldest first."""
        return [m["text"] for (chat, _), m in sorted(self.messages.items()) if chat == chat_id and "text" in m]

    def wait_for(self, check, *, timeout: float = 10):
        deadline = time.monotonic() + timeout
        with self._changed:
            while not (result := check()):
                if not self._changed.wait(max(0.0, deadline - time.monotonic())):
                    raise AssertionError(f"the fake Bot API did not see that within {timeout} s: {self.calls}")
            return result

    # --- the Bot API -----------------------------------------------------------------------------
    def call(self, method: str, params: dict):
        with self._changed:
            self.calls.append((method, params))
            self._changed.notify_all()
        if self._failures.get(method):
            raise self._failures[method].pop(0)
        if method in ("getUpdates",):
            return self._get_updates(params)
        handler = getattr(self, f"_{_snake(method)}", None)
        if handler is None:
            raise ApiError(404, "Not Found: method not found")
        with self._changed:
            result = handler(params)
            self._changed.notify_all()
            return result

    def _get_me(self, params: dict) -> dict:
        return BOT_USER

    def _send_message(self, params: dict) -> dict:
        return self._new_message(params, text=_text(params))

    def _send_photo(self, params: dict) -> dict:
        photo = params["photo"]
        size = len(photo) if isinstance(photo, bytes) else 0
        return self._new_message(params, caption=params.get("caption"),
                                 photo=[{"file_id": f"photo-{size}", "file_unique_id": f"p{size}", "width": 320,
                                         "height": 180, "file_size": size}])

    def _send_video(self, params: dict) -> dict:
        return self._upload(params, "video", width=params.get("width"), height=params.get("height"),
                            mime_type="video/mp4")

    def _send_audio(self, params: dict) -> dict:
        return self._upload(params, "audio", title=params.get("title"), mime_type="audio/mp4")

    def _upload(self, params: dict, kind: str, **facts) -> dict:
        """A video or audio upload (multipart): its bytes are kept in the call, the message says what Telegram
        would."""
        data = params[kind]
        if not isinstance(data, bytes):
            raise ApiError(400, f"Bad Request: this fake takes uploaded {kind} files only")
        return self._new_message(params, caption=params.get("caption"), **{kind: {
            "file_id": f"{kind}-{len(data)}", "file_unique_id": f"{kind[0]}{len(data)}", "file_size": len(data),
            "duration": params.get("duration"), **facts}})

    def _edit_message_text(self, params: dict) -> dict:
        message = self.messages.get((int(params["chat_id"]), int(params["message_id"])))
        if message is None:
            raise ApiError(400, "Bad Request: message to edit not found")
        if message.get("text") == _text(params):
            raise ApiError(400, "Bad Request: message is not modified")
        message.update(text=params["text"], edit_date=int(time.time()))
        if params.get("reply_markup"):
            message["reply_markup"] = params["reply_markup"]
        else:
            message.pop("reply_markup", None)
        return message

    def _delete_message(self, params: dict) -> bool:
        if self.messages.pop((int(params["chat_id"]), int(params["message_id"])), None) is None:
            raise ApiError(400, "Bad Request: message to delete not found")
        return True

    def _answer_callback_query(self, params: dict) -> bool:
        if not params.get("callback_query_id"):
            raise ApiError(400, "Bad Request: query is too old and response timeout expired or query ID is invalid")
        return True

    def _get_file(self, params: dict) -> dict:
        file = self.files.get(params["file_id"])
        if file is None:
            raise ApiError(400, "Bad Request: invalid file_id")
        if self.download_limit and file["file_size"] > self.download_limit:
            raise ApiError(400, "Bad Request: file is too big")
        return {"file_id": params["file_id"], "file_unique_id": file["file_unique_id"],
                "file_size": file["file_size"], "file_path": file["file_path"]}

    def _set_webhook(self, params: dict) -> bool:
        self.webhook = params
        return True

    def _delete_webhook(self, params: dict) -> bool:
        self.webhook = None
        return True

    def _get_updates(self, params: dict) -> list[dict]:
        offset = int(params.get("offset") or 0)
        deadline = time.monotonic() + min(float(params.get("timeout") or 0), 5)
        with self._changed:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
            while not self._updates and self._changed.wait(max(0.0, deadline - time.monotonic())):
                pass
            return list(self._updates)

    def file_content(self, file_path: str) -> bytes:
        for file in self.files.values():
            if file["file_path"] == file_path:
                return file["data"]
        raise ApiError(404, "Not Found")

    def _new_message(self, params: dict, **content) -> dict:
        chat_id = int(params["chat_id"])
        replied = params.get("reply_parameters") or {}
        if (chat_id, replied.get("message_id")) in self.deleted and not replied.get("allow_sending_without_reply"):
            raise ApiError(400, "Bad Request: message to be replied not found")
        message = {"message_id": next(self._ids), "date": int(time.time()), "from": BOT_USER,
                   "chat": {"id": chat_id, "type": "private"}, **{k: v for k, v in content.items() if v}}
        self.messages[(chat_id, message["message_id"])] = message
        return message


def _text(params: dict) -> str:
    """A message's text, refused as Telegram refuses it past 4,096 characters."""
    if len(params["text"]) > TEXT_LIMIT:
        raise ApiError(400, "Bad Request: message is too long")
    return params["text"]


def _handler(api: FakeBotApi):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as api.telegram.org

        def log_message(self, *args) -> None:
            pass

        def do_GET(self) -> None:
            api.connections.add(self.client_address)
            prefix = f"/file/bot{api.token}/"
            path = urlsplit(self.path).path
            try:
                if not path.startswith(prefix):
                    raise ApiError(404, "Not Found")
                self._send(200, api.file_content(path[len(prefix):]), "application/octet-stream")
            except ApiError as error:
                self._send(error.code, json.dumps({"ok": False, "error_code": error.code,
                                                   "description": error.description}).encode())

        def do_POST(self) -> None:
            api.connections.add(self.client_address)
            match = re.fullmatch(r"/bot(?P<token>[^/]+)/(?P<method>\w+)", urlsplit(self.path).path)
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                if match is None or match["token"] != api.token:
                    raise ApiError(401, "Unauthorized")
                result = api.call(match["method"], _params(self.headers.get("Content-Type", ""), body))
                answer, status = {"ok": True, "result": result}, 200
            except ApiError as error:
                answer = {"ok": False, "error_code": error.code, "description": error.description,
                          **({"parameters": error.parameters} if error.parameters else {})}
                status = error.code
            self._send(status, json.dumps(answer).encode())

        def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler


def _params(content_type: str, body: bytes) -> dict:
    """PTB posts form fields (JSON-encoded values) or multipart when it uploads a file."""
    if content_type.startswith("application/json"):
        return json.loads(body or b"{}")
    if content_type.startswith("multipart/form-data"):
        message = BytesParser(policy=HTTP).parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + body)
        fields = {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True)
            fields[name] = payload if part.get_filename() else payload.decode()
        params = {k: v if isinstance(v, bytes) else _value(k, v) for k, v in fields.items()}
        # a second file of the call (sendVideo's thumbnail) is sent as its own part, named by "attach://<part>"
        return {k: fields[v.removeprefix("attach://")] if isinstance(v, str) and v.startswith("attach://") else v
                for k, v in params.items()}
    return {k: _value(k, v) for k, v in parse_qsl(body.decode(), keep_blank_values=True)}


def _value(name: str, raw: str):
    if name in TEXT_FIELDS:
        return raw
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


# --- updates as Telegram sends them -------------------------------------------------------------
def _message(update_id: int, user_id: int, **content) -> dict:
    sender = {"id": user_id, "is_bot": False, "first_name": f"User {user_id}", "language_code": "en"}
    return {"update_id": update_id, "message": {
        "message_id": update_id, "date": int(time.time()), "from": sender,
        "chat": {"id": user_id, "type": "private", "first_name": sender["first_name"]}, **content}}


def text_update(update_id: int, user_id: int, text: str, *, entities: list[dict] | None = None) -> dict:
    """A text message; plain http(s) links get their ``url`` entities, as Telegram marks them."""
    found = [{"type": "url", "offset": m.start(), "length": len(m.group())}
             for m in re.finditer(r"https?://\S+", text)]
    commands = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}] if text.startswith("/") else []
    return _message(update_id, user_id, text=text, entities=commands + found + (entities or []))


def button_update(update_id: int, user_id: int, message: dict, data: str) -> dict:
    """A press of an inline keyboard button under ``message`` (one the bot sent, as ``messages`` holds it)."""
    sender = {"id": user_id, "is_bot": False, "first_name": f"User {user_id}", "language_code": "en"}
    return {"update_id": update_id, "callback_query": {
        "id": f"cq-{update_id}", "from": sender, "chat_instance": f"ci-{user_id}", "data": data, "message": message}}


def video_update(update_id: int, user_id: int, *, file_id: str, unique_id: str, size: int,
                 caption: str | None = None) -> dict:
    video = {"file_id": file_id, "file_unique_id": unique_id, "width": 320, "height": 240, "duration": 2,
             "mime_type": "video/mp4", "file_size": size}
    return _message(update_id, user_id, video=video, **({"caption": caption} if caption else {}))


def photo_update(update_id: int, user_id: int, *, file_id: str, unique_id: str, size: int) -> dict:
    sizes = [{"file_id": f"{file_id}-small", "file_unique_id": f"{unique_id}-s", "width": 90, "height": 68,
              "file_size": 1000},
             {"file_id": file_id, "file_unique_id": unique_id, "width": 640, "height": 480, "file_size": size}]
    return _message(update_id, user_id, photo=sizes)
