"""The worker: a container-image Lambda (yt-dlp + ffmpeg) fed by the jobs queue with partial batch failures."""

from __future__ import annotations

import math
from pathlib import Path

from aws_cdk import Duration, IgnoreMode, Size
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from chalicelib.config import MB
from chalicelib.media.transcode import AUDIO_BITRATE, MIN_COMPRESS_BITRATE
from infra.constructs import nag
from infra.constructs.api import XRAY_REASON

TIMEOUT = Duration.minutes(15)
MEMORY_MB = 3008
MIN_EPHEMERAL_MB = 2048
DOCKERFILE = "layers/worker/Dockerfile"
# The image's build context is the repository root; send only what the Dockerfile COPYs.
IMAGE_CONTEXT = ("requirements.txt", "layers/worker", "chalicelib")


def ephemeral_storage_mb(max_video_bytes: int, max_duration_seconds: int = 0) -> int:
    """/tmp for the download, its output and headroom: four times the largest input, at least 2 GiB; and for the
    join of a fanned-out transcode, its encoded parts and the joined file with a tenth more (a long source is over
    the compress threshold, so its output is at most the plan's floor bitrate plus the sound)."""
    join_bytes = 2 * (MIN_COMPRESS_BITRATE + AUDIO_BITRATE) * max_duration_seconds / 8 * 1.1
    return min(10240, max(MIN_EPHEMERAL_MB, math.ceil(4 * max_video_bytes / MB), math.ceil(join_bytes / MB)))


def worker_image(repo_root: Path) -> lambda_.DockerImageCode:
    """The image asset (only staged at synth: building it needs Docker, at deploy time)."""
    return lambda_.DockerImageCode.from_image_asset(
        str(repo_root),
        file=DOCKERFILE,
        platform=ecr_assets.Platform.LINUX_AMD64,
        ignore_mode=IgnoreMode.DOCKER,
        exclude=["*", *(f"!{path}" for path in IMAGE_CONTEXT), "**/__pycache__"],
    )


class Worker(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        code: lambda_.DockerImageCode,
        queue: sqs.IQueue,
        environment: dict[str, str],
        reserved_concurrency: int,
        max_video_bytes: int,
        max_duration_seconds: int,
        log_retention: logs.RetentionDays,
    ) -> None:
        super().__init__(scope, construct_id)
        self.log_group = logs.LogGroup(self, "Logs", retention=log_retention)
        # An own role, so that no AWS managed policy is attached: logs go to this function's group only.
        self.role = iam.Role(self, "Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
        self.log_group.grant_write(self.role)
        self.function = lambda_.DockerImageFunction(
            self,
            "Function",
            code=code,
            role=self.role,
            log_group=self.log_group,
            memory_size=MEMORY_MB,
            timeout=TIMEOUT,
            ephemeral_storage_size=Size.mebibytes(ephemeral_storage_mb(max_video_bytes, max_duration_seconds)),
            reserved_concurrent_executions=reserved_concurrency,
            architecture=lambda_.Architecture.X86_64,
            tracing=lambda_.Tracing.ACTIVE,
            environment=environment,
        )
        nag.acknowledge(self.role, "IAM5[Resource::*]", XRAY_REASON)
        # The poller invokes no more than the function may run: a throttled invocation would count as a receive and
        # push a fan-out's segments toward the DLQ. Reserved concurrency costs nothing by itself; at full use each
        # worker costs 3008 MB x $0.0000166667/GB-s ($0.18 an hour; 16 workers $2.82 an hour, see bench/fanout.py).
        self.function.add_event_source(sources.SqsEventSource(queue, batch_size=1, report_batch_item_failures=True,
                                                              max_concurrency=max(2, reserved_concurrency)))
