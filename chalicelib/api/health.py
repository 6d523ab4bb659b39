"""GET /api/health: cheap and unauthenticated; says whether S3, DynamoDB and SQS answer."""

from chalice import Blueprint

from chalicelib import health
from chalicelib.api.http import json_errors, json_response

bp = Blueprint(__name__)


@bp.route("/api/health", methods=["GET"])
@json_errors
def get_health():
    report = health.check()
    return json_response(report, 200 if report["healthy"] else 503)
