"""Logs and traces: the Powertools logger (redacted JSON), the request correlation id, the lazy tracer.

A leaf: it imports only settings, so every module may log. Metrics live in ``ops.metrics``.
Nothing here does I/O at import.
"""

from __future__ import annotations

import functools
import re

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

from chalicelib.config import get_settings

# -- secrets never reach a log line -------------------------------------------------------------------------

REDACTED = "[REDACTED]"
_SECRET_KEYS = ("authorization", "cookie", "cookies", "set-cookie", "x-telegram-bot-api-secret-token",
                "x-api-key", "api_key", "token", "secret", "password")
SECRET_PATTERNS: tuple[tuple[re.Pattern, str], ...] = (
    (re.compile(r"(?i)\b(bearer)\s+(?!\[REDACTED)[A-Za-z0-9._~+/=-]{8,}"), rf"\1 {REDACTED}"),
    (re.compile(r"\bprsnl_[A-Za-z0-9_-]{16,}"), f"prsnl_{REDACTED}"),  # our API keys
    (re.compile(r"\b(bot)?(\d{3,}):[A-Za-z0-9_-]{20,}"), rf"\1\2:{REDACTED}"),  # Telegram bot tokens, in URLs too
    (re.compile(r'(?i)("(?:' + "|".join(map(re.escape, _SECRET_KEYS)) + r')"\s*:\s*)"(?!\[REDACTED\])(?:[^"\\]|\\.)+"'),
     rf'\1"{REDACTED}"'),
    (re.compile(r"(?i)\b((?:set-)?cookie\s*[:=]\s*)(?!\[REDACTED)[^\s\"\\][^\"\\\r\n]*"), rf"\1{REDACTED}"),
)


def redact(text: str) -> str:
    """Mask API keys, Bearer tokens, bot tokens, cookies and secret-named JSON fields."""
    for pattern, replacement in SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def find_secrets(text: str) -> list[str]:
    """What ``redact`` would mask (the tests assert this is empty over every captured log line)."""
    return [match.group(0) for pattern, _ in SECRET_PATTERNS for match in pattern.finditer(text)]


class RedactingFormatter(LambdaPowertoolsFormatter):
    """Powertools' JSON, redacted as the last step: covers messages, extra keys, appended keys and tracebacks."""

    def serialize(self, log) -> str:
        return redact(super().serialize(log))


logger = Logger(logger_formatter=RedactingFormatter())


def correlate_request(event, get_response):
    """Chalice HTTP middleware: one correlation id per request (API Gateway's request id, else Lambda's),
    in every log line of the request, on the capture's queue message, and in the X-Correlation-Id header."""
    correlation_id = event.context.get("requestId") or getattr(event.lambda_context, "aws_request_id", None)
    logger.set_correlation_id(correlation_id)
    response = get_response(event)
    if correlation_id:
        response.headers["X-Correlation-Id"] = correlation_id
    return response


# -- traces ---------------------------------------------------------------------------------------------------


@functools.cache
def tracer():
    """The X-Ray tracer; building it imports the X-Ray SDK (~0.5 s here) and patches botocore, so every
    AWS call of the function (boto3 and PynamoDB) becomes a subsegment."""
    from aws_lambda_powertools import Tracer

    return Tracer()


def traced(handler):
    """Trace a Lambda handler when ``PRSNL_TRACING`` is on; otherwise the tracer is never even imported,
    which keeps it out of the API's cold start. Works as a decorator and through ``ConvertToMiddleware``."""

    @functools.wraps(handler)
    def wrapper(event, context):
        if not get_settings().tracing:
            return handler(event, context)
        return tracer().capture_lambda_handler(handler, capture_response=False)(event, context)

    return wrapper
