"""One stack per stage: every AWS resource of PRSNL Video, named and sized from the same Settings the code reads.

The Chalice app and everything it is granted live in this one stack (cross-stack grants to Chalice's roles make
a dependency cycle). The stack's construct id is the Chalice stage (``dev``, ``prod``) because Chalice takes its
stage from the scope's path; the CloudFormation stack is named ``prsnl-video-<stage>``.
"""

from __future__ import annotations

from pathlib import Path

from aws_cdk import CfnOutput, CfnParameter, Environment, Stack
from aws_cdk import aws_logs as logs
from constructs import Construct

from chalicelib.config import Settings
from chalicelib.ops.metrics import API, METRICS, NAMESPACE, WORKER
from chalicelib.records import models
from infra.constructs import access
from infra.constructs.api import ChaliceApi
from infra.constructs.cdn import MediaCdn
from infra.constructs.data import table_from_model
from infra.constructs.events import EventsBus
from infra.constructs.media_bucket import MediaBuckets
from infra.constructs.monitoring import Monitoring
from infra.constructs.queues import JobQueues
from infra.constructs.secrets import AppSecrets
from infra.constructs.worker import TIMEOUT, Worker, worker_image
from infra.options import InfraOptions

REPO_ROOT = Path(__file__).resolve().parents[2]
DELIVERY_FUNCTION = "DeliverEvents"  # Chalice's name for the schedule chalicelib/api/schedules.py deliver_events


def table_env_name(model: type[models.Model]) -> str:
    """``PRSNL_VIDEOS_TABLE`` etc.: the variable config.py reads for the model's table name."""
    return f"PRSNL_{models.TABLE_SETTINGS[model].upper()}"


class PrsnlStack(Stack):
    def __init__(
        self,
        scope: Construct,
        *,
        settings: Settings,
        options: InfraOptions,
        work_dir: Path,
        env: Environment | None = None,
    ) -> None:
        super().__init__(
            scope,
            settings.stage,
            stack_name=f"prsnl-video-{settings.stage}",
            env=env,
            description=f"PRSNL Video ({settings.stage}): API, worker, storage, CDN, monitoring",
        )
        public_key = CfnParameter(
            self,
            "CdnPublicKeyPem",
            type="String",
            description="PEM public key of the CloudFront signing key pair (its private key goes in the secret)",
        )
        self.tables = {
            model: table_from_model(self, model, getattr(settings, models.TABLE_SETTINGS[model]))
            for model in models.ALL_MODELS
        }
        self.buckets = MediaBuckets(self, "Storage", noncurrent_days=options.noncurrent_version_days)
        self.queues = JobQueues(
            self,
            "Queues",
            name=settings.jobs_queue,
            dlq_name=settings.jobs_dlq,
            worker_timeout=TIMEOUT,
            max_receive_count=settings.max_attempts,
        )
        self.secrets = AppSecrets(self, "Secrets", prefix=f"prsnl-video/{settings.stage}")
        self.cdn = MediaCdn(
            self,
            "Cdn",
            bucket=self.buckets.media,
            log_bucket=self.buckets.logs,
            public_key_pem=public_key.value_as_string,
        )
        self.events = EventsBus(self, "Events", bus_name=f"prsnl-video-{settings.stage}",
                                dlq_name=f"prsnl-{settings.stage}-events-target-dlq")
        environment = self._environment(settings)
        self.api = ChaliceApi(
            self,
            source_dir=REPO_ROOT,
            work_dir=work_dir,
            environment={
                **environment,
                "POWERTOOLS_SERVICE_NAME": API,
                "PRSNL_CDN_DOMAIN": self.cdn.distribution.distribution_domain_name,
                "PRSNL_CDN_KEY_PAIR_ID": self.cdn.public_key.public_key_id,
                "PRSNL_CDN_PRIVATE_KEY_SECRET": self.secrets.cdn_signing_key.secret_name,
                "PRSNL_TELEGRAM_WEBHOOK_SECRET_SECRET": self.secrets.webhook_secret.secret_name,
                "PRSNL_WATCH_SECRET_SECRET": self.secrets.watch_secret.secret_name,
                # the outbox's delivery (the DeliverEvents schedule): the bus, and the webhook when one is given
                "PRSNL_EVENT_BUS": self.events.bus.event_bus_name,
                "PRSNL_WEBHOOK_SECRET_SECRET": self.secrets.outgoing_webhook_secret.secret_name,
                **({"PRSNL_WEBHOOK_URL": options.webhook_url} if options.webhook_url else {}),
                # a custom domain (or the known URL) given at synth; else each request's own address
                **({"PRSNL_PUBLIC_URL": settings.public_url} if settings.public_url else {}),
            },
            stage=settings.stage,
        )
        self.worker = Worker(
            self,
            "Worker",
            code=worker_image(REPO_ROOT),
            queue=self.queues.jobs,
            environment={
                **environment,
                "POWERTOOLS_SERVICE_NAME": WORKER,
                "PRSNL_TRACING": "true",  # active tracing, and the image has aws-lambda-powertools[tracer]
                "PRSNL_PLATFORM_COOKIES_SECRET": self.secrets.platform_cookies.secret_name,
                # Only the worker: in the API's own environment its URL would be a dependency cycle (the API
                # builds watch links from the address each request came to).
                "PRSNL_PUBLIC_URL": settings.public_url or self.api.url,
                "PRSNL_WATCH_SECRET_SECRET": self.secrets.watch_secret.secret_name,
            },
            reserved_concurrency=settings.worker_reserved_concurrency,
            max_video_bytes=settings.max_video_bytes,
            max_duration_seconds=settings.max_duration_seconds,
            log_retention=logs.RetentionDays.ONE_MONTH,
        )
        self._grant()
        self.monitoring = Monitoring(
            self,
            "Monitoring",
            stage=settings.stage,
            namespace=NAMESPACE,
            metrics=METRICS,
            worker=self.worker.function,
            dlq=self.queues.dlq,
            jobs=self.queues.jobs,
            api_name=self.api.app_name,
            api_stage=settings.stage,
            storage_alarm_bytes=options.storage_alarm_bytes,
            alarm_email=options.alarm_email,
        )
        CfnOutput(self, "ApiUrl", value=self.api.url)
        CfnOutput(self, "CdnDomain", value=self.cdn.distribution.distribution_domain_name)
        CfnOutput(self, "WebhookSecretName", value=self.secrets.webhook_secret.secret_name)
        CfnOutput(self, "EventBusName", value=self.events.bus.event_bus_name)
        CfnOutput(self, "EventBusArn", value=self.events.bus.event_bus_arn)
        CfnOutput(self, "EventTargetDlqArn", value=self.events.target_dlq.queue_arn)
        CfnOutput(self, "OutgoingWebhookSecretName", value=self.secrets.outgoing_webhook_secret.secret_name)
        # for the operator's CLI (backup, restore, maintenance): PRSNL_BUCKET and PRSNL_BACKUP_BUCKET
        CfnOutput(self, "MediaBucket", value=self.buckets.media.bucket_name)
        CfnOutput(self, "BackupBucket", value=self.buckets.backup.bucket_name)

    def _environment(self, settings: Settings) -> dict[str, str]:
        """What every function reads (config.py's PRSNL_* names): resource names and the limits infra sizes for.

        The API's requirements.txt has no ``[tracer]`` extra, so PRSNL_TRACING stays off there: its functions
        are traced by Lambda itself (active tracing) without Powertools' Tracer.
        """
        return {
            "PRSNL_STAGE": settings.stage,
            "PRSNL_BUCKET": self.buckets.media.bucket_name,
            **{table_env_name(model): table.table_name for model, table in self.tables.items()},
            "PRSNL_JOBS_QUEUE": self.queues.jobs.queue_name,
            "PRSNL_JOBS_QUEUE_URL": self.queues.jobs.queue_url,
            "PRSNL_MAX_VIDEO_BYTES": str(settings.max_video_bytes),
            "PRSNL_MAX_ATTEMPTS": str(settings.max_attempts),
            "PRSNL_TELEGRAM_TOKEN_SECRET": self.secrets.telegram_token.secret_name,
        }

    def _grant(self) -> None:
        """Least privilege: each function's role gets exactly what that function does."""
        tables, media, jobs = self.tables, self.buckets.media, self.queues.jobs
        # the outbox's events are written with the changes they report (a commit, a failure, a delete)
        records = [tables[m] for m in (models.User, models.Video, models.VideoSource, models.Job, models.Event)]
        access.api(
            self.api.api.role,
            tables=[*records, tables[models.ApiKey], tables[models.IdempotencyKey]],
            read_tables=[tables[models.StorageSnapshot], tables[models.OpsRecord]],
            bucket=media,
            queue=jobs,
            dlq=self.queues.dlq,
            secrets=[self.secrets.telegram_token, self.secrets.webhook_secret, self.secrets.cdn_signing_key,
                     self.secrets.watch_secret],
        )
        for schedule in self.api.schedules:
            if schedule.logical_id == DELIVERY_FUNCTION:
                access.events_delivery(schedule.role, outbox=tables[models.Event], bus=self.events.bus,
                                       secret=self.secrets.outgoing_webhook_secret)
                continue
            access.maintenance(  # the ops table: the platform canary keeps its running captures there
                schedule.role,
                tables=[*records, tables[models.StorageSnapshot], tables[models.OpsRecord]],
                bucket=media,
                queue=jobs,
            )
        access.worker(
            self.worker.role,
            tables=[*records, tables[models.OpsRecord]],
            bucket=media,
            secrets=[self.secrets.telegram_token, self.secrets.platform_cookies, self.secrets.watch_secret],
        )
