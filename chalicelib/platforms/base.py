"""What every platform shares: URL matching, yt-dlp options, metadata mapping, post items, errors.

A platform copies the shape of a yt-dlp extractor (``VALID_URLS`` with a named ``id`` group) but
not its machinery: matching is our own small regex code, so the API never imports yt-dlp.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from chalicelib.errors import PermanentJobError, PrsnlError, UnsupportedUrlError
from chalicelib.platforms import failures, options

# Query parameters that only say who shared a link or from where; they never pick the media.
TRACKING_PARAMS = re.compile(
    r"utm_\w+|fbclid|gclid|dclid|gbraid|wbraid|msclkid|yclid|mc_cid|mc_eid|igsh|igshid|_ga|_gl|si|ref_src|ref_url"
)

# A de-duplication key is kept in a record's key with its owner's id: DynamoDB takes 2,048 bytes, and a link of the
# 2,048 characters a capture accepts may take more (its owner's id, its characters of several bytes).
DEDUPE_KEY_BYTES = 1536


@dataclass(frozen=True)
class Resolved:
    """A link as one platform understands it; ``canonical_url`` is what the worker fetches."""

    platform: str
    platform_id: str | None
    canonical_url: str
    needs_resolution: bool = False
    audio: bool = False  # its sound only: an audio capture, kept apart from a capture of the video

    @property
    def dedupe_key(self) -> str:
        key = f"{self.platform}:{self.platform_id}" if self.platform_id else f"url:{self.canonical_url}"
        if len(key.encode()) > DEDUPE_KEY_BYTES:  # a long link: its digest, within DynamoDB's limit for a key
            key = f"sha256:{hashlib.sha256(key.encode()).hexdigest()}"
        return f"{key}#audio" if self.audio else key

    def as_audio(self) -> Resolved:
        return replace(self, audio=True)


def strip_tracking(url: str) -> str:
    """Lower-case the host, drop the fragment and tracking parameters, keep everything else."""
    parts = urlsplit(url)
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    query = [(k, v) for k, v in pairs if not TRACKING_PARAMS.fullmatch(k)]
    return urlunsplit((parts.scheme, parts.netloc.lower(), parts.path or "/", urlencode(query), ""))


class Platform:
    """One site. Subclasses set the class attributes and override ``canonical`` (and little else)."""

    name: str = ""
    label: str = ""
    supports: tuple[str, ...] = ("video",)
    # Which hosts belong to the site: a link on these hosts that no VALID_URL matches is refused.
    HOSTS: re.Pattern | None = None
    # yt-dlp style: each pattern matches a whole link to one item and names its ``id``.
    VALID_URLS: tuple[re.Pattern, ...] = ()
    # Links that are redirects to an item (short links): the worker follows them, then resolves again.
    SHORT_URLS: tuple[re.Pattern, ...] = ()
    # The worker fetches only canonical links, which name the site's own fixed hosts: no host of the user's
    # choosing to check before the probe (the address guard still checks every connection).
    fixed_hosts: bool = True
    # The media comes from a link (yt-dlp follows, probes and downloads it); a file sent to the bot does not.
    from_link: bool = True
    # Seconds between yt-dlp's requests to the site (its rate limit).
    request_interval: float = 0.0
    # Items without video are kept as pictures only when our extractor marked them (``picture_item``): else a
    # video whose formats went missing would be kept as its cover picture.
    marked_pictures_only: bool = False
    # An item with sound and no picture (a podcast episode, an MP3) is kept as audio, not refused: not on sites
    # whose posts without video are photo posts with a soundtrack.
    keeps_audio: bool = False
    # Site-specific (pattern, code) rules tried before the common ones.
    error_rules: failures.Rules = failures.LOGIN_WALL

    # --- detection (pure) -------------------------------------------------------------------
    def claims(self, host: str) -> bool:
        return bool(self.HOSTS and self.HOSTS.fullmatch(host))

    def resolve(self, url: str, host: str) -> Resolved | None:
        """The link as this site's item, None when the host is not this site's."""
        if not self.claims(host):
            return None
        for pattern in self.VALID_URLS:
            if match := pattern.match(url):
                return Resolved(self.name, match["id"], self.canonical(match))
        for pattern in self.SHORT_URLS:
            if pattern.match(url):
                return Resolved(self.name, None, strip_tracking(url), needs_resolution=True)
        raise UnsupportedUrlError(f"This {self.label} link is not a single video or post")

    def canonical(self, match: re.Match) -> str:
        raise NotImplementedError

    # --- yt-dlp ---------------------------------------------------------------------------------
    def ydl_options(self, settings) -> dict:
        """yt-dlp options for this site; the downloader adds ``outtmpl`` and its hooks."""
        common = options.build(self.name, settings, request_interval=self.request_interval)
        return common | self.extra_options()

    def extra_options(self) -> dict:
        return {}

    def extractors(self) -> tuple[type, ...]:
        """yt-dlp extractors that take the place of yt-dlp's own for this site (same ``ie_key``): what the site
        offers that yt-dlp leaves out. Imports yt-dlp, so only the worker calls it."""
        return ()

    def to_metadata(self, info: dict) -> dict:
        """yt-dlp's info dict mapped to our video fields (missing values are None)."""
        return {
            "title": info.get("title"),
            "description": info.get("description"),
            "uploader": info.get("uploader") or info.get("channel"),
            "uploader_id": info.get("uploader_id") or info.get("channel_id"),
            "upload_date": info.get("upload_date") or _date_of(info.get("timestamp")),
            "duration": info.get("duration"),
            "platform_id": self.platform_id_of(info),
            "original_url": info.get("original_url") or info.get("webpage_url"),
            "thumbnail_url": info.get("thumbnail") or (_best_thumbnail(info) or {}).get("url"),
            "view_count": info.get("view_count"),
            "like_count": info.get("like_count"),
        }

    def platform_id_of(self, info: dict) -> str | None:
        return info.get("id")

    def entries(self, info: dict, *, audio_only: bool = False) -> list[dict]:
        """Every media item of a post: videos as info dicts, images as ``{"kind": "image"}``, sound as
        ``{"kind": "audio"}`` (when the site keeps sound alone; with ``audio_only``, every item with sound and
        nothing else).

        Refuses live streams, and a post with nothing to keep, instead of keeping its sound only (unless the site
        keeps audio or the owner asked for it).
        """
        items = []
        for item in _flatten(info):
            failures.refuse_live(item, label=self.label)
            if (kept := self._kept(item, audio_only)) is not None:
                items.append(kept)
        if not items and audio_only:
            raise PermanentJobError(f"There is no sound at this {self.label} link", code="no_audio")
        if not items:
            raise failures.error("no_video_in_post", self.label)
        return items

    def _kept(self, item: dict, audio_only: bool) -> dict | None:
        """What one item is kept as, or None when it is not kept."""
        sound = _has_stream(item, "acodec")
        if audio_only:
            return {**item, "kind": "audio"} if sound else None
        if _has_stream(item, "vcodec"):
            return self.video_item(item)
        if self._keeps_picture(item) and (image := _image_item(item)):
            return image
        return {**item, "kind": "audio"} if self.keeps_audio and sound else None

    def video_item(self, item: dict) -> dict:
        return {**item, "kind": "video"}

    def _keeps_picture(self, item: dict) -> bool:
        return "images" in self.supports and (item.get("picture") is True or not self.marked_pictures_only)

    def classify_error(self, error: BaseException | str) -> PrsnlError:
        """A yt-dlp failure (exception or message) as one of our stable, retryable-or-not errors."""
        return failures.classify(error, label=self.label, rules=self.error_rules)


def _flatten(info: dict) -> list[dict]:
    if info.get("_type") in ("playlist", "multi_video"):
        return [item for entry in info.get("entries") or () if entry for item in _flatten(entry)]
    return [info]


def _has_stream(item: dict, codec: str) -> bool:
    """Whether yt-dlp lists video (``vcodec``) or sound (``acodec``) for the item (unknown counts as yes)."""
    formats = item.get("formats")
    if formats is None:
        return bool(item.get("url")) and item.get(codec) != "none"
    return any(f.get(codec) != "none" for f in formats)


def _image_item(item: dict) -> dict | None:
    """A post item without video kept as its picture (yt-dlp lists it as the item's best thumbnail)."""
    best = _best_thumbnail(item)
    if not best:
        return None
    return {
        "kind": "image",
        "id": item.get("id"),
        "url": best["url"],
        "width": best.get("width"),
        "height": best.get("height"),
        "title": item.get("title"),
        "http_headers": item.get("http_headers") or {},
    }


def post_info(info: dict) -> dict:
    """What every item of a post shares (who posted it, when, its text), without the post's own media."""
    media = ("_type", "entries", "formats", "url", "thumbnail", "thumbnails", "subtitles", "duration",
             "requested_formats", "format_id", "ext", "track", "artists", "album")
    return {key: value for key, value in info.items() if key not in media}


def picture_item(base: dict, item_id: str, url: str, width: int | None, height: int | None) -> dict:
    """A post's picture as yt-dlp would list an item without video: no formats, the picture as its thumbnail."""
    return {**base, "id": item_id, "picture": True, "thumbnails": [{"url": url, "width": width, "height": height}]}


def _best_thumbnail(info: dict) -> dict | None:
    """yt-dlp orders thumbnails worst to best and names the best one ``thumbnail``."""
    listed = [t for t in info.get("thumbnails") or () if t.get("url")]
    if listed:
        return listed[-1]
    return {"url": info["thumbnail"]} if info.get("thumbnail") else None


def _date_of(timestamp: float | None) -> str | None:
    if timestamp is None:
        return None
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y%m%d")
