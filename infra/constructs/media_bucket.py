"""The media bucket (versioned, private, TLS only, lifecycle), its access-log bucket and its replicated backup."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_s3 as s3
from constructs import Construct

from chalicelib.storage import layout
from infra.constructs import nag

TIERING_AFTER_DAYS = 30
LOG_DAYS = 90


def _private_bucket(scope: Construct, construct_id: str, **props) -> s3.Bucket:
    """A bucket with every safety default: encrypted, no public access, TLS only, kept on stack delete."""
    return s3.Bucket(
        scope,
        construct_id,
        encryption=s3.BucketEncryption.S3_MANAGED,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        enforce_ssl=True,
        removal_policy=RemovalPolicy.RETAIN,
        **props,
    )


class MediaBuckets(Construct):
    """``media`` (served by CloudFront), ``backup`` (its replica) and ``logs`` (S3 and CloudFront access logs)."""

    def __init__(self, scope: Construct, construct_id: str, *, noncurrent_days: int) -> None:
        super().__init__(scope, construct_id)
        self.logs = _private_bucket(
            self,
            "Logs",
            # CloudFront standard logging writes with ACLs; S3 server access logs use the bucket policy.
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_PREFERRED,
            lifecycle_rules=[s3.LifecycleRule(id="expire-logs", expiration=Duration.days(LOG_DAYS))],
        )
        nag.acknowledge(self.logs, "S1", "This is the access-log bucket; logging it into itself would loop.")
        self.backup = _private_bucket(
            self,
            "Backup",
            versioned=True,
            server_access_logs_bucket=self.logs,
            server_access_logs_prefix="backup/",
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="backup-tiering",
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                    noncurrent_version_expiration=Duration.days(noncurrent_days),
                    transitions=[
                        s3.Transition(
                            storage_class=s3.StorageClass.GLACIER_INSTANT_RETRIEVAL,
                            transition_after=Duration.days(TIERING_AFTER_DAYS),
                        )
                    ],
                )
            ],
        )
        self.media = _private_bucket(
            self,
            "Media",
            versioned=True,
            server_access_logs_bucket=self.logs,
            server_access_logs_prefix="media/",
            lifecycle_rules=_media_lifecycle(noncurrent_days),
            # Everything but temp/: the stored files and thumbnails (S3 filters cannot exclude a prefix).
            replication_rules=[
                s3.ReplicationRule(destination=self.backup, priority=priority, filter=s3.Filter(prefix=prefix))
                for priority, prefix in enumerate(layout.MEDIA_PREFIXES, start=1)
            ],
        )
        for bucket in (self.media, self.backup):
            nag.acknowledge(
                self.media,
                nag.arn_wildcard(bucket, "/*"),
                "Replication reads every replicated object and writes its replica under the same key.",
            )


def _media_lifecycle(noncurrent_days: int) -> list[s3.LifecycleRule]:
    """The rules of ``chalicelib.storage.layout`` (the one definition, in the S3 API's shape) as CDK rules."""
    return [_cdk_rule(rule) for rule in layout.lifecycle_rules(noncurrent_days)]


def _cdk_rule(rule: dict) -> s3.LifecycleRule:
    expiration = rule.get("Expiration", {})
    abort = rule.get("AbortIncompleteMultipartUpload")
    noncurrent = rule.get("NoncurrentVersionExpiration")
    return s3.LifecycleRule(
        id=rule["ID"],
        enabled=rule["Status"] == "Enabled",
        prefix=rule["Filter"]["Prefix"] or None,
        expiration=Duration.days(expiration["Days"]) if "Days" in expiration else None,
        expired_object_delete_marker=expiration.get("ExpiredObjectDeleteMarker"),
        abort_incomplete_multipart_upload_after=Duration.days(abort["DaysAfterInitiation"]) if abort else None,
        noncurrent_version_expiration=Duration.days(noncurrent["NoncurrentDays"]) if noncurrent else None,
        transitions=[s3.Transition(storage_class=s3.StorageClass(t["StorageClass"]),
                                   transition_after=Duration.days(t["Days"])) for t in rule.get("Transitions", ())]
        or None,
    )
