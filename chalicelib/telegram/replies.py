"""What the bot says: plain text for each state of a capture, the commands' answers, the refusals.

Pure functions of records and numbers (no Telegram types), so the webhook, the polling loop and
the worker's notifier word things the same way.
"""

from __future__ import annotations

from chalicelib.records.models import User, Video

STAGES = {
    "queued": "⏳ Queued",
    "starting": "⏳ Starting",
    "probing": "🔎 Checking",
    "downloading": "⬇️ Downloading",
    "processing": "⚙️ Processing",
    "uploading": "⬆️ Uploading",
}
SHOWS_PERCENT = ("downloading", "processing")

MESSAGE_CHARACTERS = 4096  # the most text one Telegram message holds
NAME_CHARACTERS = 100  # of a title or link in a list

# Failure codes in plain words; anything else is told with the error's own message.
REASONS = {
    "too_large": "it is larger than the size limit",
    "too_long": "it is longer than the duration limit",
    "live_stream": "live streams and premieres cannot be saved",
    "private_or_login_required": "it is private or needs a login",
    "not_found": "it does not exist any more",
    "unsupported_url": "this link is not a video I can save",
    "blocked_url": "this address is not allowed",
    "quota_exceeded": "your storage is full (see /quota)",
    "invalid_media": "the file is damaged or is not a video",
    "no_video": "there is no picture in it, only sound",
    "no_audio": "there is no sound in it",
    "no_video_in_post": "there is no video at this link",
    "transient": "the site did not answer; please try again later",
    "lease_expired": "saving it stopped half-way; please try again",  # the maintenance gave the job up
    "message_lost": "it waited too long to be saved; please try again",
}

HELP = """Send me a link to a video (YouTube, X, TikTok, Instagram, any page with a video, a video file) \
or send a video or a photo, and I will keep it for you. One reply follows each one until it is ready.

/audio <link>: keep only the sound (a podcast, a song, a talk)
/list: your recent captures
/status: what is being saved right now
/quota: how much storage you use
/help: this message

Your Telegram id is {telegram_id}."""

RETRY_BUTTON = "🔁 Retry"
RETRY_PREFIX = "retry:"  # callback data of the Retry button: the prefix and the video id (Telegram allows 64 bytes)
RETRYING = "Trying again…"
NOTHING_TO_SAVE = "I found no link, video or photo in that message. /help says what I can do."
AUDIO_NEEDS_LINK = "Send /audio with a link, like /audio https://example.com/episode, and I will keep its sound."
UNTITLED = {"image": "Your photo", "audio": "Your audio"}  # by a record's kind; anything else is "Your video"


def help_text(telegram_id: int) -> str:
    return HELP.format(telegram_id=telegram_id)


def refusal(telegram_id: int) -> str:
    return (f"Sorry, this is a private bot. Your Telegram user id is {telegram_id}: "
            "ask its owner to add it if you should have access.")


def progress(label: str, state: dict) -> str:
    stage = state.get("stage", "queued")
    head = STAGES.get(stage, stage.capitalize())
    percent = state.get("percent")
    if stage in SHOWS_PERCENT and percent is not None:
        head += f" {percent:.0f}%"
    return f"{head}…\n{label}"


def ready(label: str, video: Video, watch_url: str | None, *, too_big: bool = False) -> str:
    """The final message: what was saved, its watch link (it plays without a key), and why the video itself is not
    in the chat when it is over the bot's upload limit."""
    facts = [duration(video.duration) if video.kind != "image" else None, size(video.bytes_stored)]
    title = video.title or UNTITLED.get(video.kind, "Your video")
    lines = [f"✅ Saved: {title}", " · ".join(f for f in facts if f)]
    if too_big:
        lines.append(f"It is too big to send here ({size(video.filesize or video.bytes_stored)}): watch it here:")
    lines += [f"▶️ {watch_url}" if watch_url else None, label]
    return "\n".join(line for line in lines if line)


def failed(label: str, code: str, message: str) -> str:
    return f"❌ Not saved: {REASONS.get(code, message)}.\n{label}"


def retry_data(video_id: str) -> str:
    return f"{RETRY_PREFIX}{video_id}"


def retried_video(data: str | None) -> str | None:
    """The video a Retry button names; None for callback data that is not one."""
    if not data or not data.startswith(RETRY_PREFIX):
        return None
    return data[len(RETRY_PREFIX):] or None


def retry_refused(code: str, message: str) -> str:
    """Why a Retry press did nothing (Telegram shows at most 200 characters)."""
    if code == "not_failed":
        return "It is not failed any more: nothing to retry."
    if code == "not_found":
        return "That capture is gone."
    if code == "not_yours":
        return "Only the person who saved it can retry it."
    return f"Not retried: {REASONS.get(code, message)}"[:200]


def label_of(text: str | None) -> str | None:
    """The link or file name a reply ends with (every capture reply's last line)."""
    return text.rsplit("\n", 1)[-1] if text else None


def already_saved(label: str, video: Video, watch_url: str | None) -> str:
    if video.status == "ready":
        return "You saved this before.\n" + ready(label, video, watch_url)
    return f"You saved this before; it is {video.status}.\n{label}"


def too_big_for_bot(nbytes: int, limit: int) -> str:
    return (f"❌ This file is {size(nbytes)}; Telegram lets bots fetch files up to {size(limit)}. "
            "Send a link to it instead, or run the bot against a self-hosted Bot API server "
            "(PRSNL_TELEGRAM_API_URL) to lift that limit.")


def video_list(items: list[Video], watch_urls: dict[str, str | None]) -> str:
    """The recent captures, each ready one with its watch link (``watch_urls`` by video id)."""
    if not items:
        return "Nothing saved yet. Send me a link."
    return _within_limit("Your recent captures:", [_list_line(video, watch_urls.get(video.video_id))
                                                   for video in items])


def status(items: list[tuple[Video, dict]]) -> str:
    if not items:
        return "Nothing is being saved right now."
    return _within_limit("In progress:", [progress(_name(video), state).replace("\n", ": ", 1)
                                          for video, state in items])


def _name(video: Video) -> str:
    """A capture's title (or link) as a line of a list shows it: titles and links may be thousands of characters."""
    name = video.title or video.source_url or ""
    return name if len(name) <= NAME_CHARACTERS else name[:NAME_CHARACTERS - 1] + "…"


def _within_limit(head: str, lines: list[str]) -> str:
    """``head`` and as many of ``lines`` as one Telegram message holds, then how many were left out."""
    text = head
    for shown, line in enumerate(lines):
        if len(text) + 1 + len(line) > MESSAGE_CHARACTERS - len("\n…and 1000 more"):
            return f"{text}\n…and {len(lines) - shown} more"
        text += "\n" + line
    return text


def quota(user: User) -> str:
    used, total = user.bytes_used, user.quota_bytes
    share = f" ({100 * used / total:.0f}%)" if total else ""
    return (f"You use {size(used)} of {size(total)}{share} in {user.video_count} captures; "
            f"{size(max(0, user.bytes_available))} left.")


def size(nbytes: int | float | None) -> str | None:
    if nbytes is None:
        return None
    units = ("B", "KB", "MB", "GB")
    value, index = float(nbytes), 0
    while value >= 1024 and index < len(units) - 1:
        value, index = value / 1024, index + 1
    return f"{value:.0f} B" if index == 0 else f"{value:.1f} {units[index]}"


def duration(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _list_line(video: Video, watch_url: str | None) -> str:
    icon = {"ready": "✅", "failed": "❌"}.get(video.status, "⏳")
    line = f"{icon} {_name(video)}"
    return f"{line}\n   {watch_url}" if watch_url else line
