"""Job routes: status and progress of one job (owner only)."""

from chalice import Blueprint

from chalicelib.api.http import current_user, json_errors
from chalicelib.records import jobs

bp = Blueprint(__name__)


@bp.route("/api/jobs/{job_id}", methods=["GET"])
@json_errors
def get_job(job_id):
    owner_id = current_user(bp.current_request)
    return jobs.to_dict(jobs.get_for_owner(job_id, owner_id))
