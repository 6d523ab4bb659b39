"""The caller's own settings: which languages their captures keep captions in."""

from chalice import Blueprint

from chalicelib import wiring
from chalicelib.api.http import current_user, json_body, json_errors
from chalicelib.errors import BadRequestError
from chalicelib.records import users
from chalicelib.storage import layout

bp = Blueprint(__name__)
SETTINGS = ("caption_languages",)
MAX_LANGUAGES = 8


@bp.route("/api/me", methods=["GET"])
@json_errors
def get_me():
    return _answer(users.get_user(current_user(bp.current_request)))


@bp.route("/api/me", methods=["PATCH"])
@json_errors
def edit_me():
    """``caption_languages``: a list of language codes, or null for the stage's default."""
    user_id, body = current_user(bp.current_request), json_body(bp.current_request)
    if set(body) != set(SETTINGS):
        raise BadRequestError(f"send {', '.join(SETTINGS)}", code="invalid_settings")
    return _answer(users.set_caption_languages(user_id, _languages(body["caption_languages"])))


def _languages(value) -> list[str] | None:
    """Language codes as caption keys hold them (``en``, ``pt-br``), without repeats; at least one."""
    if value is None:
        return None
    codes = [layout.language(code) if isinstance(code, str) else None for code in value] \
        if isinstance(value, list) else [None]
    if not codes or None in codes or len(codes) > MAX_LANGUAGES:
        raise BadRequestError(f"caption_languages must be null or 1 to {MAX_LANGUAGES} language codes such as "
                              "[\"en\", \"pt-BR\"]", code="invalid_caption_languages")
    return list(dict.fromkeys(codes))


def _answer(user) -> dict:
    default = wiring.services().settings.caption_languages
    return {"user_id": user.user_id, "name": user.name,
            "caption_languages": list(users.caption_languages(user, default)),
            "caption_languages_default": user.caption_languages is None}
