"""GET /api/admin/metrics: captures per platform for the last hour, day and week (admins)."""

from chalice import Blueprint

from chalicelib import opsmetrics, users, wiring
from chalicelib.api.http import current_user, json_errors, json_response

bp = Blueprint(__name__)


@bp.route("/api/admin/metrics", methods=["GET"])
@json_errors
def get_admin_metrics():
    users.get_admin(current_user(bp.current_request))
    return json_response(opsmetrics.summary(wiring.services().clock.now()))
