"""CloudFront in front of the media bucket: Origin Access Control, signed URLs only, Range-friendly caching."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudfront_origins as origins
from aws_cdk import aws_s3 as s3
from constructs import Construct

from infra.constructs import nag


class MediaCdn(Construct):
    def __init__(
        self, scope: Construct, construct_id: str, *, bucket: s3.IBucket, log_bucket: s3.IBucket, public_key_pem: str
    ) -> None:
        super().__init__(scope, construct_id)
        self.public_key = cloudfront.PublicKey(self, "SigningKey", encoded_key=public_key_pem)
        self.key_group = cloudfront.KeyGroup(self, "KeyGroup", items=[self.public_key])
        # Keys are immutable (a new rendition is a new key), so cache long; the cache key is the path alone:
        # the signature query string is not part of it, and CloudFront answers Range requests from the cache.
        self.cache_policy = cloudfront.CachePolicy(
            self,
            "MediaCache",
            comment="Immutable media objects; byte ranges served from cache",
            default_ttl=Duration.days(7),
            max_ttl=Duration.days(365),
            min_ttl=Duration.seconds(0),
            query_string_behavior=cloudfront.CacheQueryStringBehavior.none(),
            header_behavior=cloudfront.CacheHeaderBehavior.none(),
            cookie_behavior=cloudfront.CacheCookieBehavior.none(),
            enable_accept_encoding_gzip=False,  # video and JPEG are already compressed
            enable_accept_encoding_brotli=False,
        )
        self.distribution = cloudfront.Distribution(
            self,
            "Distribution",
            comment="PRSNL media",
            default_behavior=cloudfront.BehaviorOptions(
                origin=origins.S3BucketOrigin.with_origin_access_control(bucket),
                viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.HTTPS_ONLY,
                allowed_methods=cloudfront.AllowedMethods.ALLOW_GET_HEAD_OPTIONS,
                cached_methods=cloudfront.CachedMethods.CACHE_GET_HEAD_OPTIONS,
                cache_policy=self.cache_policy,
                trusted_key_groups=[self.key_group],
                compress=False,
            ),
            http_version=cloudfront.HttpVersion.HTTP2_AND_3,
            price_class=cloudfront.PriceClass.PRICE_CLASS_100,
            enable_logging=True,
            log_bucket=log_bucket,
            log_file_prefix="cloudfront/",
        )
        nag.acknowledge(
            self.distribution, "CFR1", "A personal library: viewers are whoever holds a signed URL, anywhere."
        )
        nag.acknowledge(
            self.distribution,
            "CFR2",
            "Every request needs a short-lived signed URL (trusted key group); WAF adds cost, not access control.",
        )
        nag.acknowledge(
            self.distribution,
            "CFR4",
            "Served on the default *.cloudfront.net certificate (no custom domain), where CloudFront "
            "fixes the minimum protocol; add a certificate and TLSv1.2_2021 with a custom domain.",
        )
