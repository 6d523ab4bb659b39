"""MediaInfo.as_record names fields as the video record and yt-dlp do."""

from chalicelib.media.probe import AudioInfo, MediaInfo, VideoInfo


def test_as_record_uses_yt_dlp_field_names():
    info = MediaInfo("mov,mp4,m4a,3gp,3g2,mj2", 12.5, 1_000_000, 640_000,
                     VideoInfo(0, "h264", "High", "yuv420p", 1280, 720, 29.97, 500_000),
                     AudioInfo(1, "aac", 44100, 2, 128_000))

    assert info.as_record() == {
        "duration": 12.5, "width": 1280, "height": 720, "fps": 29.97, "codec": "h264", "profile": "High",
        "pix_fmt": "yuv420p", "audio_codec": "aac", "sample_rate": 44100, "channels": 2,
        "average_bitrate": 640_000, "video_bitrate": 500_000, "audio_bitrate": 128_000, "filesize": 1_000_000,
    }


def test_as_record_leaves_audio_fields_empty_when_silent():
    info = MediaInfo("mov,mp4,m4a,3gp,3g2,mj2", 0.6, 60_000, None,
                     VideoInfo(0, "h264", "High", "yuv420p", 480, 270, 15.0, None), None)

    record = info.as_record()

    assert record["audio_codec"] is None
    assert (record["sample_rate"], record["channels"], record["audio_bitrate"]) == (None, None, None)
    assert (record["width"], record["codec"]) == (480, "h264")
