"""GET /api/admin/metrics: captures per platform for the last hour, day and week (admins)."""

from chalice import Blueprint

from chalicelib import wiring
from chalicelib.api.http import current_user, json_errors, json_response
from chalicelib.ops import rollups
from chalicelib.records import users

bp = Blueprint(__name__)


@bp.route("/api/admin/metrics", methods=["GET"])
@json_errors
def get_admin_metrics():
    users.get_admin(current_user(bp.current_request))
    return json_response(rollups.summary(wiring.services()))
