"""yt-dlp's failures in our words: a small set of stable codes, each retryable or not.

yt-dlp reports almost everything as a ``DownloadError``/``ExtractorError`` whose message is the
only stable signal, so classification is an ordered list of message patterns (first match wins;
the specific ones, such as the bot check that also says "use --cookies", come first).
"""

from __future__ import annotations

import re

from chalicelib.errors import PermanentJobError, PrsnlError, TransientJobError

Rules = tuple[tuple[str, str], ...]

RETRYABLE = frozenset({"bot_check", "rate_limited", "transient"})

WHY = {
    "private_or_login_required": "This {label} link is private, age-restricted or needs a login",
    "bot_check": "{label} asked us to prove we are not a bot; try again later",
    "rate_limited": "{label} is limiting how often we can ask; try again later",
    "geo_blocked": "This {label} link is not available in the country we download from",
    "not_found": "This {label} link was removed or is unavailable",
    "live_stream": "Live streams and premieres cannot be saved until they have ended",
    "unsupported_url": "This link has no video we can read",
    "no_video_in_post": "There is no video at this {label} link",
    "transient": "{label} could not be reached; we will try again",
    "download_failed": "This {label} link could not be downloaded",
}

COMMON_RULES: Rules = (
    (r"Unsupported URL|DRM protected", "unsupported_url"),
    (r"confirm you.?re not a bot|captcha", "bot_check"),
    (r"HTTP Error 429|Too Many Requests|rate.?limit", "rate_limited"),
    (r"available in your (country|location)|from your location|geo.?restrict|in your region", "geo_blocked"),
    (
        r"private|sign in|log.?in|logged.in|registered users|members.only|join this channel|authenticat|"
        r"age.restricted|confirm your age|inappropriate|protected tweet|--cookies",
        "private_or_login_required",
    ),
    (r"live event will begin|premieres? in|is live|live stream|livestream", "live_stream"),
    (r"no video|No video formats found|Requested format is not available|is not a video", "no_video_in_post"),
    (r"HTTP Error (404|410)", "not_found"),
    (
        r"HTTP Error 5\d\d|timed? ?out|Connection (reset|refused|aborted)|Temporary failure|"
        r"Name or service|Network is unreachable|Remote end closed|IncompleteRead|SSL|EOF occurred|"
        r"Unable to download webpage|Errno (104|110|111|113)|unable to download video data",
        "transient",
    ),
    (r"unavailable|not available|removed|does not exist|no longer|not found|terminated|deleted", "not_found"),
)

# The four platforms answer 401/403 on their pages and APIs when an item needs a login (a 403 on the
# media data itself is an expired signed URL: transient, a new probe gets a fresh one).
LOGIN_WALL: Rules = ((r"^(?!.*unable to download video data).*HTTP Error 40[13]", "private_or_login_required"),)

# Exceptions that are retryable by their type alone (raised below yt-dlp or instead of it).
TRANSIENT_TYPES = (TimeoutError, ConnectionError)


def classify(failure: BaseException | str, *, label: str, rules: Rules = ()) -> PrsnlError:
    if isinstance(failure, PrsnlError):
        return failure
    message = _without_prefix(str(failure))
    code = "transient" if isinstance(failure, TRANSIENT_TYPES) else _code_of(message, rules + COMMON_RULES)
    return error(code, label, _without_advice(message))


def refuse_live(info: dict, *, label: str) -> None:
    """Live streams and upcoming premieres are refused; a stream that just ended is tried again later."""
    status = info.get("live_status") or ("is_live" if info.get("is_live") else None)
    if status in ("is_live", "is_upcoming"):
        raise error("live_stream", label, status)
    if status == "post_live":
        raise TransientJobError("This stream has just ended and is still being processed; we will try again")


def _without_prefix(message: str) -> str:
    """yt-dlp's message without ``ERROR: [site] id:`` (ids and URLs must not match the rules)."""
    return re.sub(r"^(ERROR:\s*)?(\[[\w:.-]+\]\s*)?([\w-]+:\s+)?", "", message.strip())


def _without_advice(message: str) -> str:
    """Drop yt-dlp's command-line advice (``Use --cookies ...``): our users have no command line."""
    advice = r"\.?\s+(?:[Uu]se --|If it is not, then|See\s+https?://|Also see|Confirm you are on the latest)"
    return re.split(advice, message)[0].strip()


def _code_of(message: str, rules: Rules) -> str:
    matching = (code for pattern, code in rules if re.search(pattern, message, re.IGNORECASE))
    return next(matching, "download_failed")


def error(code: str, label: str, detail: str = "") -> PrsnlError:
    """Our error for a code: TransientJobError when retrying may help, PermanentJobError otherwise."""
    why = WHY[code].format(label=label)
    message = why[0].upper() + why[1:]
    if detail:
        message = f"{message} ({detail})"
    if code in RETRYABLE:
        return TransientJobError(message, code=code)
    return PermanentJobError(message, code=code)
