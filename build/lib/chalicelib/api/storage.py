"""Storage figures from the maintained counters: the caller's, and everyone's for admins."""

from chalice import Blueprint

from chalicelib.api.http import current_user, json_errors
from chalicelib.records import quotas, users

bp = Blueprint(__name__)


@bp.route("/api/storage/stats", methods=["GET"])
@json_errors
def get_storage_stats():
    return quotas.user_stats(users.get_user(current_user(bp.current_request)))


@bp.route("/api/admin/storage/stats", methods=["GET"])
@json_errors
def get_admin_storage_stats():
    users.get_admin(current_user(bp.current_request))
    return quotas.admin_stats(list(users.all_users()))
