"""GET /api/platforms: the sites links can come from (public: it is the same list for everyone)."""

from chalice import Blueprint

from chalicelib.api.http import json_errors
from chalicelib.platforms import PLATFORMS

bp = Blueprint(__name__)


@bp.route("/api/platforms", methods=["GET"])
@json_errors
def list_platforms():
    return {"platforms": [{"name": p.name, "label": p.label, "supports": list(p.supports)} for p in PLATFORMS]}
