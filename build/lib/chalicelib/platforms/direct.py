"""A link straight to a media file or a streaming manifest (HLS .m3u8, DASH .mpd).

Known by the file extension of its path alone; the query is kept, since signed CDN links need it.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from chalicelib.platforms.base import Resolved, strip_tracking
from chalicelib.platforms.generic import Generic

EXTENSIONS = ("mp4", "m4v", "mov", "webm", "mkv", "avi", "flv", "ogv", "3gp", "m3u8", "mpd")
_PATH = re.compile(rf"\.(?:{'|'.join(EXTENSIONS)})$", re.IGNORECASE)


class Direct(Generic):
    """A generic link that needs no page reading: yt-dlp downloads it as it is."""

    name = "direct"
    label = "video file"
    supports = ("video", "hls", "dash")

    def resolve(self, url: str, host: str) -> Resolved | None:
        if not _PATH.search(urlsplit(url).path):
            return None
        return Resolved(self.name, None, strip_tracking(url))


DIRECT = Direct()
