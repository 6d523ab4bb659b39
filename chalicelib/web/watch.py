"""Watch pages: ``/watch/{token}`` plays one video without any header, for whoever holds the link.

The page's ``<video>`` points at ``/watch/{token}/video``, which answers 302 to a fresh signed URL on
every request: a player that resumes after a signed URL lapsed simply asks again, and the media bytes
come from the CDN (S3 locally), never through Python. ``/watch/{token}/poster`` does the same for the
large thumbnail (the page's poster and its Open Graph image, which chat apps fetch much later).
``/watch/{token}/captions/{lang}`` answers a caption's WebVTT itself, from the page's own origin, as ``<track>``
needs (see ``chalicelib.captions``).
"""

from __future__ import annotations

import html
from functools import cache
from pathlib import Path
from string import Template
from urllib.parse import quote

from chalice import Blueprint, Response

from chalicelib import captions, renditions, watch, wiring
from chalicelib.api.http import base_url, json_errors, known_params, signed_redirect
from chalicelib.errors import NotFoundError
from chalicelib.records import videos
from chalicelib.records.models import Video
from chalicelib.telegram.replies import duration, size

bp = Blueprint(__name__)
TEMPLATE = Path(__file__).parent / "templates" / "watch.html"
EXTENSIONS = {videos.IMAGE: "jpg", videos.AUDIO: "m4a"}  # a download's file extension by kind; else mp4


@bp.route("/watch/{token}", methods=["GET"])
@json_errors
def watch_page(token):
    """The page ignores query parameters: links shared in chats come back with trackers appended (fbclid...)."""
    video = _video(token)
    return Response(status_code=200, body=page(video, f"{base_url(bp.current_request)}/watch/{token}"),
                    headers={"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store",
                             "Referrer-Policy": "no-referrer"})


@bp.route("/watch/{token}/video", methods=["GET"])
@json_errors
def watch_video(token):
    params = known_params(bp.current_request, "quality", "download")
    video = _video(token)
    key = renditions.stored_key(video, renditions.parse_quality(params.get("quality")))
    return signed_redirect(key, download_name=download_name(video) if "download" in params else None)


@bp.route("/watch/{token}/poster", methods=["GET"])
@json_errors
def watch_poster(token):
    video = _video(token)
    thumbnails = video.thumbnails.as_dict()
    key = thumbnails.get("large") or thumbnails.get("medium")
    if not key:
        raise NotFoundError("this video has no thumbnail", code="thumbnail_not_found")
    return signed_redirect(key)


@bp.route("/watch/{token}/captions/{lang}", methods=["GET"])
@json_errors
def watch_captions(token, lang):
    text = captions.webvtt(_video(token), lang, services=wiring.services())
    return Response(status_code=200, body=text, headers={"Content-Type": "text/vtt; charset=utf-8",
                                                         "Cache-Control": "private, max-age=300"})


def _video(token: str) -> Video:
    services = wiring.services()
    return watch.video_for(token, settings=services.settings, now=services.clock.now())


def page(video: Video, page_url: str) -> str:
    """The watch page: player, poster, facts, download link, rendition picker, chat preview tags."""
    title = video.title or "Saved video"
    uploader = (video.platform_meta or {}).get("uploader")
    facts = " · ".join(fact for fact in (uploader, duration(video.duration), size(video.bytes_stored)) if fact)
    ready = {quality: entry for quality, entry in video.renditions.as_dict().items()
             if entry.get("status") == renditions.READY}
    sound = video.kind == videos.AUDIO
    return _template().substitute(
        {name: html.escape(str(value), quote=True) for name, value in {
            "title": title, "facts": facts, "page_url": page_url, "poster_url": f"{page_url}/poster",
            "video_url": f"{page_url}/video", "download_url": f"{page_url}/video?download=1",
            "width": video.width or "", "height": video.height or "",
            "media_type": "audio/mp4" if sound else "video/mp4"}.items()},
        quality_picker=_picker(page_url, ready), player="audio" if sound else "video",
        artwork=_artwork(page_url) if sound and video.thumbnails.as_dict() else "", tracks=tracks(page_url, video))


def tracks(page_url: str, video: Video) -> str:
    """A ``<track>`` per caption language (automatic captions say so in their label), the first one on by default."""
    items = []
    for index, (lang, entry) in enumerate(videos.captions_of(video).items()):
        automatic = entry.get("origin") == "automatic"
        attributes = {"kind": "captions" if automatic else "subtitles", "srclang": lang,
                      "label": f"{lang} (auto)" if automatic else lang, "src": f"{page_url}/captions/{quote(lang)}"}
        items.append("<track " + " ".join(f'{name}="{html.escape(value)}"' for name, value in attributes.items())
                     + (" default>" if index == 0 else ">"))
    return "".join(items)


def _artwork(page_url: str) -> str:
    """An audio capture's artwork above its player (a <video> shows it as the poster instead)."""
    return f'<img class="artwork" id="artwork" src="{html.escape(page_url)}/poster" alt="">'


def _picker(page_url: str, ready: dict) -> str:
    if not ready:
        return ""
    url = f"{html.escape(page_url)}/video"
    options = [f'<option value="{url}">original</option>']
    options += [f'<option value="{url}?quality={quote(quality)}">{html.escape(quality)}</option>'
                for quality in sorted(ready, key=lambda q: renditions.QUALITIES.get(q, 0), reverse=True)]
    return f'<label>Quality <select id="quality">{"".join(options)}</select></label>'


def download_name(video: Video) -> str:
    """The title as a file name (what a browser's download keeps), with the file's extension."""
    stem = "".join(c if c.isalnum() or c in " -_.()" else "_" for c in (video.title or video.video_id)).strip()
    return f"{stem[:100] or video.video_id}.{EXTENSIONS.get(video.kind, 'mp4')}"


@cache
def _template() -> Template:
    return Template(TEMPLATE.read_text())
