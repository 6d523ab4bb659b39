"""The downloader's job scope: one yt-dlp for a job's probe and downloads, closed when the job ends (real yt-dlp,
real loopback media server; yt-dlp's constructor and ``close`` are only counted)."""

from __future__ import annotations

import pytest
import yt_dlp

from chalicelib.config import get_settings
from chalicelib.media.download import YtDlpDownloader
from chalicelib.platforms import get_platform


@pytest.fixture
def built(monkeypatch) -> dict:
    """How many yt-dlps were built and closed (the real ones run)."""
    counts = {"built": 0, "closed": 0}
    init, close = yt_dlp.YoutubeDL.__init__, yt_dlp.YoutubeDL.close

    def counted_init(self, *args, **kwargs):
        counts["built"] += 1
        init(self, *args, **kwargs)

    def counted_close(self):
        counts["closed"] += 1
        close(self)

    monkeypatch.setattr(yt_dlp.YoutubeDL, "__init__", counted_init)
    monkeypatch.setattr(yt_dlp.YoutubeDL, "close", counted_close)
    return counts


def _probe_and_download(downloader: YtDlpDownloader, url: str, dest) -> list[int]:
    """The bytes each progress call of the download reported."""
    platform = get_platform("direct")
    options = platform.ydl_options(get_settings())
    info = downloader.probe(url, options=options, allow_loopback=True, classify=platform.classify_error)
    seen: list[int] = []
    dest.mkdir()
    path = downloader.download(info, dest, options=options, max_bytes=10**9, allow_loopback=True,
                               on_progress=lambda stage, **figures: seen.append(figures["bytes"]),
                               classify=platform.classify_error)
    assert seen[-1] == path.stat().st_size
    return seen


def test_a_job_builds_one_yt_dlp_for_its_probes_and_downloads_when_run_in_one_job(media_server, tmp_path, built):
    # GIVEN a direct link
    url = media_server.url("files", "clip.mp4")
    downloader = YtDlpDownloader()
    # WHEN one job probes and downloads it twice (a post's items)
    with downloader.one_job():
        first = _probe_and_download(downloader, url, tmp_path / "first")
        second = _probe_and_download(downloader, url, tmp_path / "second")
        open_in_job = built["closed"]
    # THEN one yt-dlp did it all, closed only at the job's end, and each download told only its own progress
    assert (built["built"], open_in_job, built["closed"]) == (1, 0, 1)
    assert first == second


def test_calls_outside_a_job_each_build_and_close_their_own_yt_dlp_when_a_job_ended_on_the_thread(
        media_server, tmp_path, built):
    # GIVEN a job that ended on this thread
    downloader = YtDlpDownloader()
    with downloader.one_job():
        pass
    # WHEN a probe and a download run outside any job
    _probe_and_download(downloader, media_server.url("files", "clip.mp4"), tmp_path / "alone")
    # THEN each had its own yt-dlp, closed when it returned
    assert (built["built"], built["closed"]) == (2, 2)


def test_our_yt_dlp_has_yt_dlp_s_default_extractors_in_its_order_then_our_platforms():
    # GIVEN the options of a job, and yt-dlp's own build with our platforms' extractors added as ours adds them
    from chalicelib import platforms
    from chalicelib.media.download import _base, youtube_dl

    params = _base(get_platform("direct").ydl_options(get_settings()))
    with yt_dlp.YoutubeDL(params) as plain:
        for extractor in platforms.extractors():
            plain.add_info_extractor(extractor())
        expected = list(plain._ies)

    # WHEN ours is built (yt-dlp calls our add_default_info_extractors from its constructor)
    with youtube_dl(params) as ours:
        extractors = list(ours._ies)

    # THEN the same extractors in the same order: a link reaches the extractor it did with yt-dlp's own listing
    assert extractors == expected
    assert len(extractors) > 1000 and extractors[-1] == "Generic"


def test_a_list_of_allowed_extractors_is_still_yt_dlp_s_to_read():
    from chalicelib import platforms
    from chalicelib.media.download import youtube_dl

    ours = {extractor.ie_key() for extractor in platforms.extractors()}
    with youtube_dl({"quiet": True, "allowed_extractors": ["youtube", "generic"]}) as ydl:
        names = [name for name in ydl._ies if name not in ours]

    assert names == ["Youtube", "Generic"]


def test_a_download_renders_no_tables_for_printing_unless_asked_to_print(media_server, tmp_path, monkeypatch, capsys):
    # GIVEN yt-dlp's table of formats counted each time it is rendered (for --print's formats_table)
    from chalicelib.media.download import youtube_dl

    rendered = []
    render = yt_dlp.YoutubeDL.render_formats_table
    monkeypatch.setattr(yt_dlp.YoutubeDL, "render_formats_table",
                        lambda self, info: rendered.append(info.get("id")) or render(self, info))
    # WHEN a link is probed and downloaded
    _probe_and_download(YtDlpDownloader(), media_server.url("files", "clip.mp4"), tmp_path / "plain")
    # THEN no stage of it rendered the table
    assert rendered == []
    # AND one that asks yt-dlp to print it gets it printed
    with youtube_dl({"quiet": True, "forceprint": {"video": ["formats_table"]}, "simulate": True}) as ydl:
        ydl.extract_info(media_server.url("files", "clip.mp4"))
    assert rendered and "mp4" in capsys.readouterr().out
