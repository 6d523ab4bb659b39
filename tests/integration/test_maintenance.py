"""The maintenance on moto: each kind of leftover seeded, reported by a dry run that changes nothing,
then cleaned; the lifecycle rules the bootstrap applies; the CLI and the scheduled function."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from chalicelib import aws, wiring
from chalicelib.cli import main as cli
from chalicelib.ops import maintenance
from chalicelib.records import jobs, quotas, videos
from chalicelib.records.models import ALL_MODELS, Job, User, Video
from chalicelib.storage import layout
from tests.conftest import seed_user
from tests.fakes import FakeClock

CREATED = datetime(2026, 1, 5, tzinfo=UTC)
THUMBS = ("small", "medium", "large")


def s3():
    return aws.client("s3")


def bucket() -> str:
    return wiring.services().settings.bucket


def put(key: str, size: int = 100) -> str:
    s3().put_object(Bucket=bucket(), Key=key, Body=b"x" * size)
    return key


def exists(key: str) -> bool:
    return wiring.services().storage.head(key) is not None


def video_record(owner_id: str, *, status: str = videos.READY, upload: bool = True) -> Video:
    """A video record as the pipeline leaves it, its objects uploaded and its bytes counted when ready."""
    video_id = str(uuid.uuid4())
    file_key = layout.video_key(video_id, CREATED)
    thumbs = {size: layout.thumbnail_key(video_id, CREATED, size) for size in THUMBS}
    sizes = {key: 100 for key in (file_key, *thumbs.values())} if status == videos.READY else {}
    video = Video(video_id, owner_id=owner_id, created_at=CREATED, updated_at=CREATED, status=status,
                  source_url=f"https://example.com/{video_id}.mp4", canonical_url=f"https://example.com/{video_id}.mp4",
                  owner_source=f"{owner_id}#direct:{video_id}", platform="direct", object_sizes=sizes,
                  file_key=file_key if sizes else None, thumbnails=thumbs if sizes else {},
                  bytes_stored=sum(sizes.values()))
    video.save()
    if upload:
        for key in sizes:
            put(key)
    if sizes:
        quotas.settle(owner_id, reserved=0, actual=sum(sizes.values()))
    return video


def stuck_job(owner_id: str, *, reserved: int, error_code: str | None = None, lease_minutes: float = -5) -> Job:
    """A job whose worker stopped mid-capture: running, lease over, bytes reserved, temp files left."""
    video = video_record(owner_id, status=videos.PROCESSING)
    now = datetime.now(UTC)
    job = jobs.new_job(str(uuid.uuid4()), video_id=video.video_id, owner_id=owner_id, kind="capture", now=now)
    job.status, job.attempts, job.error_code = jobs.RUNNING, 1, error_code
    job.lease_until = now + timedelta(minutes=lease_minutes)
    job.save()
    quotas.reserve(owner_id, reserved)
    video.update(actions=[Video.bytes_reserved.set(reserved), Video.job_id.set(job.job_id)])
    put(layout.temp_prefix(job.job_id) + "part-1")
    return job


def state() -> dict:
    """Every object version, delete marker, table item and queued message: what a dry run must not change."""
    versions = s3().list_object_versions(Bucket=bucket())
    dynamodb = aws.client("dynamodb")
    items = {model.__name__: sorted(json.dumps(i, sort_keys=True)
                                    for i in dynamodb.scan(TableName=model.Meta.table_name)["Items"])
             for model in ALL_MODELS}
    queue = wiring.services().queue.depth()
    return {"versions": [(v["Key"], v["VersionId"]) for v in versions.get("Versions", [])],
            "markers": versions.get("DeleteMarkers", []), "items": items, "queue": queue}


@pytest.fixture
def world(mocked_aws, work_dir):
    """One user with a clean video and every kind of leftover the maintenance looks for."""
    user = seed_user("carol").user_id
    clean = video_record(user)
    deleted = video_record(user)
    deleted.delete()  # its record gone (and its bytes given back), its objects left: orphans
    quotas.release(user, used=videos.stored_bytes(deleted), videos=1)
    failed = video_record(user, status=videos.FAILED)
    failed_leftover = put(layout.video_key(failed.video_id, CREATED))
    stray = put("videos/2026/01/not-a-video-key.bin")
    broken = video_record(user)
    s3().delete_object(Bucket=bucket(), Key=broken.file_key)
    first_stuck = stuck_job(user, reserved=1000)
    (work_dir / f"prsnl-{first_stuck.job_id}-x1").mkdir()
    second_stuck = stuck_job(user, reserved=500, error_code=jobs.LEASE_EXPIRED)
    temp_leftover = put("temp/processing/some-old-job/output.mp4")
    return {
        "user": user, "clean": clean, "deleted": deleted, "failed_leftover": failed_leftover, "stray": stray,
        "broken": broken, "first_stuck": first_stuck, "second_stuck": second_stuck,
        "temp_leftover": temp_leftover, "work_dir": work_dir,
    }


def sweep(*, apply: bool, hours_later: float = 2) -> maintenance.Report:
    wiring.override(clock=FakeClock(later=timedelta(hours=hours_later)))
    return maintenance.run(services=wiring.services(), apply=apply)


def test_lifecycle_rules_are_applied_and_versioning_stays_on_when_bootstrapped(mocked_aws):
    # GIVEN the buckets the local bootstrap made (the aws fixture)
    settings = wiring.services().settings
    # THEN the media bucket carries exactly layout.lifecycle_rules() (the definition infra reads too)
    rules = {rule["ID"]: rule for rule in s3().get_bucket_lifecycle_configuration(Bucket=settings.bucket)["Rules"]}
    assert set(rules) == {rule["ID"] for rule in layout.lifecycle_rules()}
    assert rules["expire-temp"]["Filter"] == {"Prefix": "temp/"}
    assert rules["expire-temp"]["Expiration"] == {"Days": 1}
    # (one "housekeeping" rule, as the deployed bucket has it: the rules exist once, in storage.layout)
    assert rules["housekeeping"]["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 1}
    assert rules["housekeeping"]["NoncurrentVersionExpiration"]["NoncurrentDays"] == layout.NONCURRENT_EXPIRE_DAYS
    assert rules["housekeeping"]["Expiration"] == {"ExpiredObjectDeleteMarker": True}
    assert rules["intelligent-tiering"]["Transitions"] == [{"Days": 30, "StorageClass": "INTELLIGENT_TIERING"}]
    assert all(rule["Status"] == "Enabled" for rule in rules.values())
    # AND both buckets keep versions (what restores a deleted video)
    for name in (settings.bucket, settings.backup_bucket):
        assert s3().get_bucket_versioning(Bucket=name)["Status"] == "Enabled"


def test_dry_run_reports_every_kind_and_changes_nothing(world):
    # GIVEN every kind of leftover
    before = state()
    # WHEN the maintenance runs without --apply, hours after the seeding
    report = sweep(apply=False)
    # THEN it finds each kind, fixes none, and nothing changed
    assert report.orphan_objects.found == 6  # 4 of the deleted video, the failed one's file, the stray key
    assert report.broken_videos.found == 1
    assert report.stuck_jobs_requeued.found == 1 and report.stuck_jobs_failed.found == 1
    assert report.temp_leftovers.found == 3  # the old job's output and a part of each stuck job
    assert report.quota_drift.found == 0 and report.users_skipped_busy == 1
    assert all(finding.fixed == 0 for finding in report.findings().values())
    assert state() == before
    assert (world["work_dir"] / f"prsnl-{world['first_stuck'].job_id}-x1").exists()


def test_apply_cleans_each_kind_and_keeps_what_records_point_to(world):
    user, clean, broken = world["user"], world["clean"], world["broken"]
    # WHEN the maintenance applies its findings, hours after the seeding
    report = sweep(apply=True)
    # THEN objects no record points to are gone, whatever their prefix
    assert report.orphan_objects.fixed == 6
    assert not any(exists(key) for key in videos.stored_keys(world["deleted"]))
    assert not exists(world["failed_leftover"]) and not exists(world["stray"])
    # AND the clean video keeps every object, the broken one its remaining ones
    assert all(exists(key) for key in videos.stored_keys(clean))
    assert all(exists(key) for key in videos.stored_keys(broken) - {broken.file_key})
    # AND the record whose file is gone is marked broken, with what is missing
    broken.refresh()
    assert broken.status == videos.BROKEN and broken.file_key in broken.error_message
    assert videos.get(clean.video_id).status == videos.READY
    # AND the first stuck job is queued again (a message on the queue), the second failed
    first, second = jobs.get(world["first_stuck"].job_id), jobs.get(world["second_stuck"].job_id)
    assert (first.status, first.error_code) == (jobs.QUEUED, jobs.LEASE_EXPIRED)
    assert second.status == jobs.FAILED and videos.get(second.video_id).status == videos.FAILED
    assert wiring.services().queue.depth()["visible"] == 1
    message = jobs.JobMessage.from_json(wiring.services().queue.receive(wait_seconds=0)[0]["Body"])
    assert message.job_id == first.job_id
    # AND their reservations, temp objects and local work files are released
    assert videos.get(first.video_id).bytes_reserved == 0 == videos.get(second.video_id).bytes_reserved
    account = User.get(user)
    assert account.bytes_reserved == 0
    assert account.bytes_available == account.quota_bytes - account.bytes_used
    assert not any(exists(layout.temp_prefix(job.job_id) + "part-1") for job in (first, second))
    assert not (world["work_dir"] / f"prsnl-{first.job_id}-x1").exists()
    # AND the local stack's temp leftovers are deleted
    assert not exists(world["temp_leftover"])
    # AND a second pass finds nothing left to do
    again = sweep(apply=True)
    assert not any(finding.found for finding in again.findings().values())


def test_fresh_objects_are_kept_within_the_grace_period(world):
    # WHEN the maintenance runs right after the seeding (younger than the default hour)
    report = sweep(apply=True, hours_later=0)
    # THEN no object is touched, however unreferenced
    assert report.orphan_objects.found == 0 and report.temp_leftovers.found == 0
    assert exists(world["stray"]) and exists(world["temp_leftover"])


def test_temp_leftovers_are_only_reported_outside_the_local_stack(mocked_aws, settings_env):
    # GIVEN a deployed stage's resources (S3 lifecycle expires temp/ there) with an old work file
    from chalicelib.config import get_settings
    from chalicelib.local.bootstrap import bootstrap

    settings_env(PRSNL_STAGE="dev")
    bootstrap(get_settings())
    leftover = put("temp/processing/some-old-job/output.mp4")
    # WHEN the maintenance applies
    report = sweep(apply=True)
    # THEN the leftover is reported and left to the lifecycle
    assert report.temp_leftovers.found == 1 and report.temp_leftovers.fixed == 0
    assert exists(leftover)


def test_drift_between_counters_and_records_is_reported_and_corrected(mocked_aws):
    # GIVEN a user whose counters say more than their records hold (a lost release)
    user = seed_user("dave").user_id
    kept = video_record(user)
    User(user).update(actions=[User.bytes_used.add(5000), User.video_count.add(2), User.bytes_available.add(-5000)])
    # WHEN a dry run, then an applied run
    dry = sweep(apply=False, hours_later=0)
    applied = sweep(apply=True, hours_later=0)
    # THEN both report the drift, and the counters now equal the records
    assert dry.quota_drift.found == applied.quota_drift.found == 1 and dry.quota_drift.fixed == 0
    assert dry.quota_drift.bytes == 5000
    account = User.get(user)
    assert account.bytes_used == videos.stored_bytes(kept) == 400
    assert account.video_count == 1
    assert account.bytes_available == account.quota_bytes - 400
    assert sweep(apply=False, hours_later=0).quota_drift.found == 0


def test_a_reservation_a_crash_left_on_the_user_alone_is_given_back_when_the_worker_starts(mocked_aws, work_dir):
    # GIVEN a capture killed between its reservation's two writes (its lease not over yet): 7000 bytes held on the
    # user, none on its video
    user = seed_user("erin").user_id
    stuck_job(user, reserved=0, lease_minutes=30)
    quotas.reserve(user, 7000)
    # AND a fanned-out rendition waiting on its segments, its 3000 bytes held on its job
    ready = video_record(user)
    waiting = jobs.new_job(str(uuid.uuid4()), video_id=ready.video_id, owner_id=user, kind=jobs.RENDITION,
                           now=datetime.now(UTC), params={"quality": "360p"})
    waiting.status, waiting.bytes_reserved = jobs.WAITING, 3000
    waiting.save()
    videos.claim_rendition(ready, "360p", {"status": videos.QUEUED, "job_id": waiting.job_id}, now=CREATED)
    quotas.reserve(user, 3000)
    # WHEN an hourly maintenance runs, THEN it leaves the busy user's counters alone
    assert sweep(apply=True, hours_later=0).users_skipped_busy == 1
    assert User.get(user).bytes_reserved == 10_000
    # WHEN the worker starts (no worker can be running)
    report = maintenance.take_back_running(services=wiring.services())
    # THEN the capture is queued again and the user holds only the rendition's bytes
    assert report.stuck_jobs_requeued.fixed == 1 and report.quota_drift.fixed == 1
    account = User.get(user)
    assert account.bytes_reserved == 3000 and account.bytes_used == 400
    assert account.bytes_available == account.quota_bytes - 400 - 3000


def test_cli_prints_a_dry_run_report_by_default(world, capsys):
    wiring.override(clock=FakeClock(later=timedelta(hours=2)))
    assert cli(["maintenance"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("maintenance: dry run, nothing changed")
    assert world["stray"] in out
    assert exists(world["stray"])
    assert cli(["maintenance", "--apply", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["applied"] is True and report["orphan_objects"]["fixed"] == 6
    assert not exists(world["stray"])


def test_the_hourly_schedule_runs_the_maintenance(world, client):
    # WHEN EventBridge invokes the scheduled function (hours after the seeding)
    wiring.override(clock=FakeClock(later=timedelta(hours=2)))
    event = client.events.generate_cw_event(source="aws.events", detail_type="Scheduled Event", detail={},
                                            resources=["arn:aws:events:us-east-1:000000000000:rule/hourly"])
    client.lambda_.invoke("run_maintenance", event)
    # THEN the leftovers are cleaned
    assert not exists(world["stray"])
    assert jobs.get(world["first_stuck"].job_id).status == jobs.QUEUED


def ended_job(video: Video, *, status: str, kind: str = jobs.CAPTURE, error_code: str | None = None,
              on_video: str | None = None, params: dict | None = None, hours_later: float = 0) -> Job:
    """A job that ended (``hours_later`` than now) while its video still waits for it."""
    now = datetime.now(UTC) + timedelta(hours=hours_later)
    job = jobs.new_job(str(uuid.uuid4()), video_id=on_video or video.video_id, owner_id=video.owner_id, kind=kind,
                       now=now, params=params)
    job.status, job.attempts, job.error_code = status, 1, error_code
    job.error_message = "unreadable media" if error_code else None
    job.save()
    if kind == jobs.CAPTURE:
        video.update(actions=[Video.job_id.set(job.job_id)])
    else:
        video.update(actions=[Video.renditions[params["quality"]].set({"status": videos.QUEUED, "job_id": job.job_id})])
    return job


def test_videos_left_waiting_for_a_job_that_ended_fail_as_it_did(mocked_aws):
    # GIVEN videos whose job ended without them (a worker or a maintenance stopped between the two writes): a
    # capture whose job failed, one whose job is gone, a rendition whose job failed, a short link's duplicate
    # whose job ended on the video the owner already had; and another owner's capture whose job failed just now
    user, other = seed_user("erin").user_id, seed_user("fred").user_id
    failed = video_record(user, status=videos.PROCESSING)
    ended_job(failed, status=jobs.FAILED, error_code="invalid_media")
    orphaned = video_record(user, status=videos.QUEUED)
    orphaned.update(actions=[Video.job_id.set(str(uuid.uuid4()))])
    rendered = video_record(user)
    ended_job(rendered, status=jobs.FAILED, kind=jobs.RENDITION, error_code="invalid_media",
              params={"quality": "480p"})
    had = video_record(user)
    duplicate = video_record(user, status=videos.QUEUED)
    ended_job(duplicate, status=jobs.SUCCEEDED, on_video=had.video_id)
    recent = video_record(other, status=videos.PROCESSING)
    ended_job(recent, status=jobs.FAILED, error_code="invalid_media", hours_later=2)
    # WHEN the maintenance runs, dry then applied
    before = state()
    dry = sweep(apply=False)
    assert (dry.stranded_videos.found, dry.stranded_videos.fixed, state()) == (4, 0, before)
    report = sweep(apply=True)
    # THEN each failed as its job did (the one whose job is gone as stopped half-way), the duplicate is gone,
    # the one within the grace period was left to its worker, and the owner's counters were checked again
    assert report.stranded_videos.fixed == 4 and report.users_skipped_busy == 1
    assert [(v.status, v.error_code) for v in (videos.get(failed.video_id), videos.get(orphaned.video_id))] == \
        [(videos.FAILED, "invalid_media"), (videos.FAILED, jobs.LEASE_EXPIRED)]
    entry = videos.get(rendered.video_id).renditions.as_dict()["480p"]
    assert (entry["status"], entry["error_code"]) == (videos.FAILED, "invalid_media")
    assert videos.find(duplicate.video_id) is None and videos.find(had.video_id).status == videos.READY
    assert videos.get(recent.video_id).status == videos.PROCESSING
    assert sweep(apply=False).stranded_videos.found == 0


def test_a_video_left_waiting_for_a_job_that_ended_fails_when_the_worker_starts(mocked_aws, work_dir):
    # GIVEN a capture whose job failed a moment ago while its video stayed processing (the worker was killed)
    user = seed_user("gina").user_id
    video = video_record(user, status=videos.PROCESSING)
    ended_job(video, status=jobs.FAILED, error_code="invalid_media")
    assert sweep(apply=True, hours_later=0).stranded_videos.found == 0  # within the grace period
    # WHEN the worker starts (no worker can be running, so nothing is still to write)
    report = maintenance.take_back_running(services=wiring.services())
    # THEN the video failed as its job did at once
    assert report.stranded_videos.fixed == 1
    assert (videos.get(video.video_id).status, videos.get(video.video_id).error_code) == ("failed", "invalid_media")
