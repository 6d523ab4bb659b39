"""Storage figures from the maintained counters: the caller's, and everyone's for admins."""

from chalice import Blueprint

from chalicelib import wiring
from chalicelib.api.http import current_user, json_errors, known_params
from chalicelib.ops import trends
from chalicelib.records import quotas, users

bp = Blueprint(__name__)


@bp.route("/api/storage/stats", methods=["GET"])
@json_errors
def get_storage_stats():
    """The counters; with ``?days=N`` also the daily series of the last N days (gaps as null figures)."""
    request = bp.current_request
    owner_id, days = current_user(request), known_params(request, "days").get("days")
    stats = quotas.user_stats(users.get_user(owner_id))
    if days is not None:
        stats["series"] = trends.daily(owner_id, days, now=wiring.services().clock.now())
    return stats


@bp.route("/api/admin/storage/stats", methods=["GET"])
@json_errors
def get_admin_storage_stats():
    users.get_admin(current_user(bp.current_request))
    return quotas.admin_stats(list(users.all_users()))
