"""Domain errors: each has a stable snake ``code`` (used in JSON and bot replies) and an HTTP status.

They are mapped to HTTP in exactly one place (``api.http.json_errors``); in the worker a
``PermanentJobError`` fails the job at once and anything else is retried.
"""


class PrsnlError(Exception):
    code = "internal_error"
    http_status = 500

    def __init__(self, message: str, *, code: str | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code


class BadRequestError(PrsnlError):
    code = "bad_request"
    http_status = 400


class UnauthorizedError(PrsnlError):
    code = "unauthorized"
    http_status = 401


class ForbiddenError(PrsnlError):
    code = "forbidden"
    http_status = 403


class NotFoundError(PrsnlError):
    code = "not_found"
    http_status = 404


class ConflictError(PrsnlError):
    code = "conflict"
    http_status = 409


class QuotaExceededError(PrsnlError):
    code = "quota_exceeded"
    http_status = 413


class UnsupportedUrlError(PrsnlError):
    code = "unsupported_url"
    http_status = 422


class BlockedUrlError(PrsnlError):
    code = "blocked_url"
    http_status = 422


class PermanentJobError(PrsnlError):
    """A failure that retrying cannot fix (too large, private, corrupt...): the job fails at once."""

    code = "job_failed"
    http_status = 422


class TransientJobError(PrsnlError):
    """A failure worth retrying later (network, throttling, 5xx)."""

    code = "transient"
    http_status = 503


class JobCancelledError(PrsnlError):
    """The job was cancelled (its video deleted) while the worker ran it: stop and clean up."""

    code = "cancelled"
    http_status = 409
