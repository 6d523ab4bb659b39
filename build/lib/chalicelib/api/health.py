"""GET /api/health (cheap, no key: do S3, DynamoDB and SQS answer) and GET /api/health/deep (admins)."""

from chalice import Blueprint

from chalicelib import wiring
from chalicelib.api.http import current_user, json_errors, json_response
from chalicelib.ops import health
from chalicelib.records import users

bp = Blueprint(__name__)


def _answer(report: dict):
    return json_response(report, 200 if report["healthy"] else 503)


@bp.route("/api/health", methods=["GET"])
@json_errors
def get_health():
    return _answer(health.check(wiring.services()))


@bp.route("/api/health/deep", methods=["GET"])
@json_errors
def get_deep_health():
    users.get_admin(current_user(bp.current_request))
    return _answer(health.deep_check(wiring.services()))
