"""Posts with several items and short links, through the real worker: an X post with three videos (one a GIF),
an X post with photos, an Instagram carousel of videos and pictures, a TikTok photo post, vm.tiktok.com and
t.co links.

The platforms cannot be reached offline, so their extraction answers with recorded info dicts
(tests/fixtures/platforms) and short links start at a recorded first hop (``RecordedDownloader``); yt-dlp's
format choice, every download (from the loopback media server), ffmpeg, S3, DynamoDB and SQS are real.
Records are made with ``capture_resolved``: the API's own address check would look the platforms' hosts up
in DNS, which this machine has not.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from chalicelib import capture, platforms, wiring
from chalicelib.config import MB
from chalicelib.errors import NotFoundError
from chalicelib.local import worker_loop
from chalicelib.media.probe import probe
from chalicelib.ops import maintenance
from chalicelib.records import jobs, videos
from chalicelib.records.users import get_user
from chalicelib.storage import layout
from tests import fakes
from tests.conftest import seed_user

X_POST = "https://x.com/i/status/1585341984679469056"
CAROUSEL = "https://www.instagram.com/p/CfUvPzHl6LE/"
PHOTO_POST = "https://www.tiktok.com/@akihitoko1/video/7338943586698054958"
TIKTOK_VIDEO = "https://www.tiktok.com/@akihitoko1/video/7106798200794926362"
X_PHOTOS = "https://x.com/i/status/1700000000000000042"
RECORDINGS = {X_POST: "twitter_multi_video", CAROUSEL: "instagram_carousel", PHOTO_POST: "tiktok_photo_post",
              TIKTOK_VIDEO: "tiktok_video", X_PHOTOS: "twitter_photo_post"}
TIKTOK_SHORT = "https://vm.tiktok.com/ZMhvqjqjq/"
TIKTOK_OTHER_SHORT = "https://vt.tiktok.com/ZSabcdefg/"  # a second short link to the same video
TCO_SHORT = "https://t.co/Ab12Cd34"


@pytest.fixture(autouse=True)
def loopback_allowed(settings_env, work_dir):
    settings_env(PRSNL_ALLOW_LOOPBACK_URLS="true")


@pytest.fixture(autouse=True)
def recorded_platforms(media_server, recorded_media):
    redirect = media_server.url("redirect")
    wiring.override(downloader=fakes.RecordedDownloader(media_server.url("files"), RECORDINGS, redirects={
        TIKTOK_SHORT: f"{redirect}?to={TIKTOK_VIDEO}%3Fis_from_webapp%3D1",
        TIKTOK_OTHER_SHORT: f"{redirect}?to={TIKTOK_VIDEO}",
        TCO_SHORT: f"{redirect}?to=http://10.0.0.1/clip.mp4",
    }))


def queue(url: str, owner: str = "alice") -> capture.CaptureResult:
    return capture.capture_resolved(platforms.resolve(url), url, owner_id=owner, services=wiring.services(),
                                    source="api")


def post_records(result: capture.CaptureResult) -> list[videos.Video]:
    """The capture's record, then the further items of its post in their order."""
    parent = videos.get(result.video.video_id)
    page, _ = videos.list_for_owner(parent.owner_id, limit=100)
    further = sorted((v for v in page if v.parent_video_id == parent.video_id), key=lambda v: v.item_index)
    return [parent, *further]


def bucket_keys() -> set[str]:
    return {entry["Key"] for entry in wiring.services().storage.list("")}


def test_x_post_with_three_videos_gives_three_ready_videos_under_one_capture(user, drain, work_dir):
    # GIVEN an X post with two videos and a GIF
    result = queue(X_POST)
    # WHEN the worker runs the capture
    drain()
    records = post_records(result)
    # THEN each video is a ready record of its own, grouped under the capture in the post's order
    assert jobs.get(result.job.job_id).status == jobs.SUCCEEDED
    assert [(v.status, v.kind, v.codec, v.item_index) for v in records] == [
        (videos.READY, "video", "h264", None), (videos.READY, "video", "h264", 1), (videos.READY, "video", "h264", 2)]
    assert {v.parent_video_id for v in records[1:]} == {records[0].video_id}
    assert [v.platform_meta["title"] for v in records] == [f"NASA - Three angles of today's launch #{n}"
                                                           for n in (1, 2, 3)]
    # AND the quota counts every item, and nothing is reserved or left in the work dir
    owner = get_user("alice")
    assert (owner.bytes_used, owner.bytes_reserved, owner.video_count) == (sum(v.bytes_stored for v in records), 0, 3)
    assert bucket_keys() == {key for v in records for key in v.object_sizes.as_dict()}
    assert not any(work_dir.iterdir())


def test_x_gif_becomes_silent_mp4_with_thumbnails_from_its_sub_second_clip(user, drain, tmp_path):
    result = queue(X_POST)
    drain()
    gif = post_records(result)[2]
    assert (gif.status, gif.codec, gif.audio_codec, gif.width) == (videos.READY, "h264", None, 240)
    assert gif.duration < 1
    assert set(gif.thumbnails.as_dict()) == {"small", "medium", "large"}
    medium = wiring.services().storage.get_file(gif.thumbnails["medium"], tmp_path / "medium.jpg")
    assert (probe(medium).video.codec, probe(medium).video.width) == ("mjpeg", 240)  # never wider than the clip


def test_instagram_carousel_keeps_its_videos_and_its_picture(user, drain, tmp_path):
    result = queue(CAROUSEL)
    drain()
    records = post_records(result)
    assert [(v.status, v.kind, v.codec) for v in records] == [
        (videos.READY, "video", "h264"), (videos.READY, "image", "mjpeg"), (videos.READY, "video", "h264")]
    picture = records[1]
    assert picture.file_key == layout.image_key(picture.video_id, picture.created_at)
    assert (picture.width, picture.height, len(picture.thumbnails.as_dict())) == (640, 800, 3)
    stored = wiring.services().storage.get_file(picture.file_key, tmp_path / "picture.jpg")
    assert probe(stored).video.codec == "mjpeg"


def test_tiktok_photo_post_keeps_every_picture_in_order_never_its_sound(user, drain):
    result = queue(PHOTO_POST)
    drain()
    records = post_records(result)
    assert [(v.status, v.kind, v.codec, v.audio_codec, v.item_index) for v in records] == [
        (videos.READY, "image", "mjpeg", None, index) for index in (None, 1, 2)]
    assert [v.platform_meta["platform_id"] for v in records] == [f"7338943586698054958-{n}" for n in (1, 2, 3)]


def test_x_post_with_photos_keeps_them_around_its_video(user, drain):
    result = queue(X_PHOTOS)
    drain()
    records = post_records(result)
    assert jobs.get(result.job.job_id).status == jobs.SUCCEEDED
    assert [(v.status, v.kind) for v in records] == [
        (videos.READY, "image"), (videos.READY, "video"), (videos.READY, "image")]
    assert records[0].owner_source == "alice#twitter:1700000000000000042"
    assert get_user("alice").video_count == 3


def test_post_whose_items_together_pass_the_quota_fails_whole_leaving_nothing(mocked_aws, drain, work_dir):
    # GIVEN an owner whose quota holds the post's first video (3.4 MB estimated) but not all of them (5.6 MB)
    seed_user("carol", quota_bytes=4 * MB)
    result = queue(X_POST, owner="carol")
    # WHEN the worker runs it
    drain()
    # THEN the capture fails before any download, and nothing is kept
    assert (jobs.get(result.job.job_id).error_code, videos.get(result.video.video_id).status) == \
        ("quota_exceeded", videos.FAILED)
    owner = get_user("carol")
    assert (owner.bytes_available, owner.bytes_reserved, owner.video_count) == (4 * MB, 0, 0)
    assert not bucket_keys() and not any(work_dir.iterdir())


def test_tiktok_short_link_is_resolved_by_the_worker_to_the_video_it_leads_to(user, drain):
    # GIVEN a vm.tiktok.com link: its platform is known, its video only after the redirect
    result = queue(TIKTOK_SHORT)
    assert (result.video.platform, result.video.platform_id) == ("tiktok", None)
    # WHEN the worker runs it
    drain()
    # THEN the record names the video it led to: canonical link, id and de-duplication key
    video = videos.get(result.video.video_id)
    assert video.status == videos.READY, video.error_message
    assert (video.canonical_url, video.platform_id, video.source_url) == \
        (TIKTOK_VIDEO, "7106798200794926362", TIKTOK_SHORT)
    assert videos.find_by_source("alice", "tiktok:7106798200794926362").video_id == video.video_id


def test_short_link_to_a_video_the_owner_has_ends_on_it_and_leaves_nothing(user, drain, work_dir):
    # GIVEN an owner who already saved the TikTok video
    first = queue(TIKTOK_VIDEO)
    drain()
    keys, before = bucket_keys(), get_user("alice")
    # WHEN a short link to the same video is captured
    again = queue(TIKTOK_SHORT)
    drain()
    # THEN its job ends on the existing video and its own record is gone, with no byte or object added
    job = jobs.get(again.job.job_id)
    assert (job.status, job.video_id) == (jobs.SUCCEEDED, first.video.video_id)
    with pytest.raises(NotFoundError):
        videos.get(again.video.video_id)
    after = get_user("alice")
    assert (after.bytes_used, after.bytes_reserved, after.video_count) == (before.bytes_used, 0, 1)
    assert bucket_keys() == keys and not any(work_dir.iterdir())


def test_a_worker_killed_once_its_short_link_ended_on_the_owners_video_leaves_it_counted_once(user, drain,
                                                                                               work_dir):
    # GIVEN an owner who already saved the TikTok video, and a short link to it whose worker is killed right after
    # its job was pointed at that video
    first = queue(TIKTOK_VIDEO)
    drain()
    keys, before = bucket_keys(), get_user("alice")
    again = queue(TIKTOK_SHORT)
    fakes.die_at_a_dynamodb_write(lambda writes: first.video.video_id in writes and jobs.Job.Meta.table_name in writes,
                                  applied=True)
    with pytest.raises(fakes.WorkerDied):
        drain()
    # WHEN the worker starts again (what a killed worker held is taken back) and runs what is queued
    maintenance.take_back_running(services=wiring.services())
    drain()
    # THEN the job ended on the existing video, the duplicate is gone, and nothing was captured or counted again
    job = jobs.get(again.job.job_id)
    assert (job.status, job.video_id) == (jobs.SUCCEEDED, first.video.video_id)
    assert videos.find(again.video.video_id) is None
    after = get_user("alice")
    assert (after.bytes_used, after.bytes_reserved, after.video_count) == (before.bytes_used, 0, 1)
    assert bucket_keys() == keys


def test_two_short_links_to_one_video_run_at_once_make_one_video(user, drain, work_dir):
    # GIVEN two different short links to the same TikTok video, both queued
    results = [queue(TIKTOK_SHORT), queue(TIKTOK_OTHER_SHORT)]
    assert results[0].video.video_id != results[1].video.video_id
    # WHEN two workers run both jobs at the same moment
    queue_ = wiring.services().queue
    messages = queue_.receive(max_messages=10, wait_seconds=0)
    assert len(messages) == 2
    arn = worker_loop.queue_arn(queue_)
    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(lambda message: worker_loop.run_batch(queue_, arn, [message]), messages))
    # THEN one video holds the link, both jobs ended on it, and one copy is stored and charged
    kept = videos.find_by_source("alice", "tiktok:7106798200794926362")
    assert kept is not None and kept.status == videos.READY
    assert {jobs.get(r.job.job_id).video_id for r in results} == {kept.video_id}
    assert {jobs.get(r.job.job_id).status for r in results} == {jobs.SUCCEEDED}
    assert [video.video_id for video in videos.list_for_owner("alice")[0]] == [kept.video_id]
    owner = get_user("alice")
    assert (owner.bytes_used, owner.bytes_reserved, owner.video_count) == (kept.bytes_stored, 0, 1)
    assert sorted(bucket_keys()) == sorted(videos.stored_keys(kept)) and not any(work_dir.iterdir())


def test_short_link_leading_to_a_private_address_is_refused_without_connecting(user, drain, media_server, work_dir):
    # GIVEN a t.co link whose redirect leads to 10.0.0.1 (refused at name resolution: nothing connects there)
    result = queue(TCO_SHORT)
    # WHEN the worker follows it
    drain()
    # THEN the capture fails as blocked, before any media is fetched
    assert jobs.get(result.job.job_id).error_code == "blocked_url"
    assert videos.get(result.video.video_id).status == videos.FAILED
    assert not bucket_keys() and not any(work_dir.iterdir())
