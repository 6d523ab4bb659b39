"""What every platform shares: URL matching, yt-dlp options, metadata mapping, post items, errors.

A platform copies the shape of a yt-dlp extractor (``VALID_URLS`` with a named ``id`` group) but
not its machinery: matching is our own small regex code, so the API never imports yt-dlp.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from chalicelib.errors import PrsnlError, UnsupportedUrlError
from chalicelib.platforms import failures, options

# Query parameters that only say who shared a link or from where; they never pick the media.
TRACKING_PARAMS = re.compile(
    r"utm_\w+|fbclid|gclid|dclid|gbraid|wbraid|msclkid|yclid|mc_cid|mc_eid|igsh|igshid|_ga|_gl|si|ref_src|ref_url"
)


@dataclass(frozen=True)
class Resolved:
    """A link as one platform understands it; ``canonical_url`` is what the worker fetches."""

    platform: str
    platform_id: str | None
    canonical_url: str
    needs_resolution: bool = False

    @property
    def dedupe_key(self) -> str:
        if self.platform_id:
            return f"{self.platform}:{self.platform_id}"
        return f"url:{self.canonical_url}"


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

    def entries(self, info: dict) -> list[dict]:
        """Every media item of a post: videos as info dicts, images as ``{"kind": "image"}``.

        Refuses live streams, and a post with nothing to keep, instead of keeping its sound only.
        """
        items = []
        for item in _flatten(info):
            failures.refuse_live(item, label=self.label)
            if _has_video(item):
                items.append(self.video_item(item))
            elif "images" in self.supports and (image := _image_item(item)):
                items.append(image)
        if not items:
            raise failures.error("no_video_in_post", self.label)
        return items

    def video_item(self, item: dict) -> dict:
        return {**item, "kind": "video"}

    def classify_error(self, error: BaseException | str) -> PrsnlError:
        """A yt-dlp failure (exception or message) as one of our stable, retryable-or-not errors."""
        return failures.classify(error, label=self.label, rules=self.error_rules)


def _flatten(info: dict) -> list[dict]:
    if info.get("_type") in ("playlist", "multi_video"):
        return [item for entry in info.get("entries") or () if entry for item in _flatten(entry)]
    return [info]


def _has_video(item: dict) -> bool:
    formats = item.get("formats")
    if formats is None:
        return bool(item.get("url")) and item.get("vcodec") != "none"
    return any(f.get("vcodec") != "none" for f in formats)


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
