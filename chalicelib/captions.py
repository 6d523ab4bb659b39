"""A video's captions as its clients get them: the API's list with signed URLs, and the WebVTT text that the watch
page and the web library's player load as ``<track>``s.

A ``<track>`` is fetched in same-origin mode unless its ``<video>`` asks for CORS, which the media's CDN and S3 do not
answer for: so the pages' tracks come from the app's own origin (a caption is a few hundred kB of text at most,
``media.captions.MAX_CAPTION_BYTES``), while other clients follow the signed URLs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalicelib.errors import NotFoundError
from chalicelib.records import videos
from chalicelib.records.models import Video
from chalicelib.storage import layout, signed_urls

if TYPE_CHECKING:
    from chalicelib.wiring import Services


def listing(video: Video, *, services: Services) -> dict:
    """Each language with its origin and a short-lived signed URL, and the transcript's full text when there is one."""
    now = services.clock.now()

    def signed(key: str) -> dict:
        return signed_urls.signed_url(key, settings=services.settings, storage=services.storage, now=now).to_dict()

    captions = [{"language": lang, **entry, **signed(layout.caption_key(video.video_id, video.created_at, lang))}
                for lang, entry in videos.captions_of(video).items()]
    transcript = signed(layout.transcript_key(video.video_id, video.created_at)) if video.transcript else None
    return {"video_id": video.video_id, "captions": captions, "transcript": transcript}


def webvtt(video: Video, lang: str, *, services: Services) -> str:
    """The stored WebVTT of one language; NotFoundError for a language the video has no captions in."""
    text = None
    if lang in videos.captions_of(video):
        text = services.storage.read(layout.caption_key(video.video_id, video.created_at, lang))
    if text is None:
        raise NotFoundError(f"this video has no {lang!r} captions", code="captions_not_found")
    return text.decode("utf-8", errors="replace")
