"""Every AWS resource of the stack and its safety properties, asserted on the synthesized template."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from aws_cdk.assertions import Match

from chalicelib.config import load_settings
from chalicelib.ops.metrics import CANARY_CHECKS, CANARY_FAILED, METRICS, NAMESPACE, STORAGE_METRIC
from chalicelib.records import models
from chalicelib.storage import layout
from infra.constructs.worker import ephemeral_storage_mb
from infra.stacks.prsnl_stack import DELIVERY_FUNCTION, table_env_name

REPO_ROOT = Path(__file__).resolve().parents[2]
WORKER_TIMEOUT = 900
# what config.py must read back: resource names, and the secrets' names (the values stay in Secrets Manager)
SHARED_VARS = (
    "PRSNL_BUCKET",
    *(table_env_name(model) for model in models.ALL_MODELS),
    "PRSNL_JOBS_QUEUE",
    "PRSNL_JOBS_QUEUE_URL",
    "PRSNL_TELEGRAM_TOKEN_SECRET",
)
WORKER_VARS = (*SHARED_VARS, "PRSNL_PUBLIC_URL", "PRSNL_WATCH_SECRET_SECRET", "PRSNL_PLATFORM_COOKIES_SECRET")
API_VARS = (
    *SHARED_VARS,
    "PRSNL_CDN_DOMAIN",
    "PRSNL_CDN_KEY_PAIR_ID",
    "PRSNL_CDN_PRIVATE_KEY_SECRET",
    "PRSNL_TELEGRAM_WEBHOOK_SECRET_SECRET",
    "PRSNL_WATCH_SECRET_SECRET",
)


def _resources(synth, type_: str) -> dict[str, dict]:
    return {k: r for k, r in synth.template()["Resources"].items() if r["Type"] == type_}


def _one(synth, type_: str, **where) -> tuple[str, dict]:
    found = [
        (k, r)
        for k, r in _resources(synth, type_).items()
        if all(r["Properties"].get(name) == value for name, value in where.items())
    ]
    assert len(found) == 1, f"{type_} {where}: {[k for k, _ in found]}"
    return found[0]


def _worker(synth) -> tuple[str, dict]:
    return _one(synth, "AWS::Lambda::Function", PackageType="Image")


def _bucket_id(synth, logging_prefix: str) -> str:
    return next(
        k
        for k, r in _resources(synth, "AWS::S3::Bucket").items()
        if r["Properties"].get("LoggingConfiguration", {}).get("LogFilePrefix") == logging_prefix
    )


def _policy_statements(synth, role_id: str) -> list[dict]:
    """Every statement of the IAM policies attached to ``role_id`` (CDK-created or Chalice's)."""
    statements = []
    for policy in _resources(synth, "AWS::IAM::Policy").values():
        roles = policy["Properties"]["Roles"]
        if {"Ref": role_id} in roles or any(role_id in str(role) for role in roles):
            statements += policy["Properties"]["PolicyDocument"]["Statement"]
    return statements


def _actions(statements: list[dict]) -> set[str]:
    return {a for s in statements for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}


# --- worker -------------------------------------------------------------------------------------------------


def test_worker_is_a_container_image_sized_for_the_largest_video(synth):
    _, worker = _worker(synth)
    props = worker["Properties"]
    assert props["MemorySize"] >= 3008
    assert props["Timeout"] == WORKER_TIMEOUT
    assert props["EphemeralStorage"]["Size"] >= 2048
    assert props["EphemeralStorage"]["Size"] * 1024 * 1024 >= 3 * load_settings().max_video_bytes
    assert props["EphemeralStorage"]["Size"] == ephemeral_storage_mb(load_settings().max_video_bytes,
                                                                     load_settings().max_duration_seconds)
    assert props["ReservedConcurrentExecutions"] == load_settings().worker_reserved_concurrency == 16
    assert props["TracingConfig"] == {"Mode": "Active"}


def test_ephemeral_storage_grows_with_the_size_limit_within_lambda_bounds():
    assert ephemeral_storage_mb(500 * 1024 * 1024) == 2048
    assert ephemeral_storage_mb(1024 * 1024 * 1024) == 4096
    # the join of a 4-hour fan-out: its parts and the joined file at the plan's floor bitrate, with a tenth more
    assert ephemeral_storage_mb(500 * 1024 * 1024, 4 * 3600) == 2372
    assert ephemeral_storage_mb(10 * 1024**3) == 10240


def test_worker_image_runs_the_worker_handler_from_the_shared_requirements():
    dockerfile = (REPO_ROOT / "layers/worker/Dockerfile").read_text()
    assert dockerfile.splitlines()[-1] == 'CMD ["chalicelib.worker.handler"]'
    assert "pip install --no-cache-dir -r /build/layers/worker/requirements.txt" in dockerfile
    assert "FROM public.ecr.aws/lambda/python:" in dockerfile


def test_worker_image_context_holds_only_what_the_dockerfile_copies(synth):
    [asset] = [p for p in synth.outdir.glob("asset.*") if (p / "layers/worker/Dockerfile").exists()]
    assert sorted(p.name for p in asset.iterdir()) == ["chalicelib", "layers", "requirements.txt"]
    assert not list(asset.rglob("__pycache__"))


def test_worker_consumes_the_jobs_queue_reporting_batch_item_failures(synth, template):
    jobs_id, _ = _one(synth, "AWS::SQS::Queue", QueueName="prsnl-dev-jobs")
    worker_id, _ = _worker(synth)
    template.has_resource_properties(
        "AWS::Lambda::EventSourceMapping",
        {
            "EventSourceArn": {"Fn::GetAtt": [jobs_id, "Arn"]},
            "FunctionName": {"Ref": worker_id},
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
            "BatchSize": 1,
            # no more invocations than the function may run: a throttle would count as a receive (DLQ)
            "ScalingConfig": {"MaximumConcurrency": load_settings().worker_reserved_concurrency},
        },
    )


def _env(function: dict) -> dict[str, str]:
    return function["Properties"]["Environment"]["Variables"]


@pytest.mark.parametrize("which, names", [("worker", WORKER_VARS), ("api", API_VARS)])
def test_function_env_names_resources_as_config_reads_them(synth, settings_env, which, names):
    env = _env(_worker(synth)[1] if which == "worker" else synth.template()["Resources"]["APIHandler"])
    assert set(names) <= set(env)
    # every name handed over is one config.py reads: set each to a marker and read it back
    settings_env(**{name: f"marker-{name}" for name in names})
    assert {f"marker-{name}" for name in names} <= {str(v) for v in vars(load_settings()).values()}
    assert env["PRSNL_STAGE"] == "dev"
    assert env["POWERTOOLS_SERVICE_NAME"] == f"prsnl-{which}"


def test_each_function_gets_only_the_secret_names_it_reads(synth):
    worker, api = _env(_worker(synth)[1]), _env(synth.template()["Resources"]["APIHandler"])
    assert "PRSNL_CDN_PRIVATE_KEY_SECRET" not in worker
    assert "PRSNL_TELEGRAM_WEBHOOK_SECRET_SECRET" not in worker  # credentials() would read it: no grant there
    assert "PRSNL_PLATFORM_COOKIES_SECRET" not in api
    assert "PRSNL_PUBLIC_URL" not in api  # the API answers with the address each request came to


def test_powertools_tracing_is_on_where_active_tracing_and_the_tracer_extra_are(synth):
    # GIVEN the worker image installs aws-lambda-powertools[tracer]; the API zip only if requirements.txt does
    api_has_tracer = "aws-lambda-powertools[tracer]" in (REPO_ROOT / "requirements.txt").read_text()
    worker = _worker(synth)[1]["Properties"]
    # THEN Powertools' Tracer runs exactly where X-Ray is active and its SDK is packaged
    assert worker["TracingConfig"] == {"Mode": "Active"}
    assert worker["Environment"]["Variables"]["PRSNL_TRACING"] == "true"
    assert (_env(synth.template()["Resources"]["APIHandler"]).get("PRSNL_TRACING") == "true") == api_has_tracer


# --- queues -------------------------------------------------------------------------------------------------


def test_jobs_queue_redrives_to_the_dlq_after_max_attempts(synth):
    dlq_id, dlq = _one(synth, "AWS::SQS::Queue", QueueName="prsnl-dev-jobs-dlq")
    _, jobs = _one(synth, "AWS::SQS::Queue", QueueName="prsnl-dev-jobs")
    assert jobs["Properties"]["VisibilityTimeout"] >= 6 * WORKER_TIMEOUT
    assert jobs["Properties"]["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": [dlq_id, "Arn"]},
        "maxReceiveCount": load_settings().max_attempts,
    }
    for queue in (jobs, dlq):
        assert queue["Properties"]["SqsManagedSseEnabled"] is True


def test_queues_refuse_requests_without_tls(template):
    template.resource_count_is("AWS::SQS::QueuePolicy", 3)  # the jobs queue, its DLQ, the event targets' DLQ
    template.all_resources_properties(
        "AWS::SQS::QueuePolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Effect": "Deny",
                                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                            }
                        )
                    ]
                )
            },
        },
    )


# --- buckets ------------------------------------------------------------------------------------------------


def test_every_bucket_is_private_encrypted_and_tls_only(template):
    buckets = template.find_resources("AWS::S3::Bucket")
    assert len(buckets) == 3  # media, backup, logs
    template.all_resources_properties(
        "AWS::S3::Bucket",
        {
            "PublicAccessBlockConfiguration": {
                "BlockPublicAcls": True,
                "BlockPublicPolicy": True,
                "IgnorePublicAcls": True,
                "RestrictPublicBuckets": True,
            },
            "BucketEncryption": {
                "ServerSideEncryptionConfiguration": [
                    {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}},
                ]
            },
        },
    )
    assert all(b["DeletionPolicy"] == "Retain" for b in buckets.values())
    template.resource_count_is("AWS::S3::BucketPolicy", 3)
    template.all_resources_properties(
        "AWS::S3::BucketPolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Effect": "Deny",
                                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                            }
                        )
                    ]
                )
            },
        },
    )


def test_media_bucket_is_versioned_logged_and_expires_what_it_should(synth):
    media = synth.template()["Resources"][_bucket_id(synth, "media/")]["Properties"]
    assert media["VersioningConfiguration"] == {"Status": "Enabled"}
    rules = {rule["Id"]: rule for rule in media["LifecycleConfiguration"]["Rules"]}
    assert rules["expire-temp"] == {"Id": "expire-temp", "Prefix": "temp/", "ExpirationInDays": 1, "Status": "Enabled"}
    housekeeping = rules["housekeeping"]
    assert housekeeping["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 1}
    assert housekeeping["NoncurrentVersionExpiration"] == {"NoncurrentDays": 30}
    assert rules["intelligent-tiering"]["Transitions"] == [
        {"StorageClass": "INTELLIGENT_TIERING", "TransitionInDays": 30},
    ]


def test_media_bucket_replicates_to_the_versioned_backup_bucket(synth):
    resources = synth.template()["Resources"]
    media = resources[_bucket_id(synth, "media/")]["Properties"]
    backup_id = _bucket_id(synth, "backup/")
    assert resources[backup_id]["Properties"]["VersioningConfiguration"] == {"Status": "Enabled"}
    rules = media["ReplicationConfiguration"]["Rules"]
    assert {rule["Filter"]["Prefix"] for rule in rules} == {"videos/", "thumbnails/", "captions/", "audio/"}
    assert all(rule["Destination"]["Bucket"] == {"Fn::GetAtt": [backup_id, "Arn"]} for rule in rules)
    assert all(rule["Status"] == "Enabled" for rule in rules)


def test_server_access_logs_go_to_the_log_bucket(synth):
    resources = synth.template()["Resources"]
    logged = [
        r["Properties"]["LoggingConfiguration"]
        for r in resources.values()
        if r["Type"] == "AWS::S3::Bucket" and "LoggingConfiguration" in r["Properties"]
    ]
    [logs_id] = {c["DestinationBucketName"]["Ref"] for c in logged}
    assert len(logged) == 2  # media and backup
    assert "LifecycleConfiguration" in resources[logs_id]["Properties"]


# --- CDN ----------------------------------------------------------------------------------------------------


def test_cdn_reads_the_bucket_through_origin_access_control_with_signed_urls_only(synth, template):
    template.has_resource_properties(
        "AWS::CloudFront::OriginAccessControl",
        {
            "OriginAccessControlConfig": Match.object_like(
                {"OriginAccessControlOriginType": "s3", "SigningBehavior": "always", "SigningProtocol": "sigv4"}
            ),
        },
    )
    key_group_id, _ = _one(synth, "AWS::CloudFront::KeyGroup")
    _, distribution = _one(synth, "AWS::CloudFront::Distribution")
    behavior = distribution["Properties"]["DistributionConfig"]["DefaultCacheBehavior"]
    assert behavior["TrustedKeyGroups"] == [{"Ref": key_group_id}]
    assert behavior["ViewerProtocolPolicy"] == "https-only"
    assert behavior["AllowedMethods"] == ["GET", "HEAD", "OPTIONS"]
    template.has_resource_properties(
        "AWS::CloudFront::PublicKey",
        {
            "PublicKeyConfig": Match.object_like({"EncodedKey": {"Ref": "CdnPublicKeyPem"}}),
        },
    )
    template.has_resource_properties(
        "AWS::S3::BucketPolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Action": "s3:GetObject",
                                "Principal": {"Service": "cloudfront.amazonaws.com"},
                            }
                        )
                    ]
                )
            },
        },
    )


def test_cdn_cache_key_is_the_path_so_ranges_are_served_from_cache(synth):
    cache_id, cache = _one(synth, "AWS::CloudFront::CachePolicy")
    config = cache["Properties"]["CachePolicyConfig"]
    key = config["ParametersInCacheKeyAndForwardedToOrigin"]
    assert key["QueryStringsConfig"] == {"QueryStringBehavior": "none"}  # signatures stay out of the cache key
    assert key["HeadersConfig"] == {"HeaderBehavior": "none"}
    assert config["DefaultTTL"] >= 86400
    _, distribution = _one(synth, "AWS::CloudFront::Distribution")
    assert distribution["Properties"]["DistributionConfig"]["DefaultCacheBehavior"]["CachePolicyId"] == {
        "Ref": cache_id
    }


# --- secrets, schedules, monitoring -------------------------------------------------------------------------


def test_secrets_exist_for_telegram_cdn_key_and_cookies(template):
    for name in ("telegram-token", "telegram-webhook-secret", "cdn-signing-key", "platform-cookies", "watch-secret"):
        template.has_resource_properties("AWS::SecretsManager::Secret", {"Name": f"prsnl-video/dev/{name}"})


def _alarm(synth, name: str) -> dict:
    alarms = _resources(synth, "AWS::CloudWatch::Alarm").items()
    [found] = [r["Properties"] for k, r in alarms if k.startswith(f"Monitoring{name}")]
    return found


@pytest.mark.parametrize(
    "alarm, namespace, metric",
    [
        ("DlqNotEmpty", "AWS/SQS", "ApproximateNumberOfMessagesVisible"),
        ("WorkerErrors", "AWS/Lambda", "Errors"),
        ("WorkerThrottles", "AWS/Lambda", "Throttles"),
        ("Api5xx", "AWS/ApiGateway", "5XXError"),
        ("ApiLatencyP90", "AWS/ApiGateway", "Latency"),
        ("StorageOverThreshold", NAMESPACE, STORAGE_METRIC),
        *((spec.name, NAMESPACE, spec.name) for spec in METRICS if spec.alarm and not spec.alarm.each),
    ],
)
def test_alarm_notifies_the_alarm_topic(synth, alarm, namespace, metric):
    topic_id, _ = _one(synth, "AWS::SNS::Topic")
    found = _alarm(synth, alarm)
    assert (found["Namespace"], found["MetricName"]) == (namespace, metric)
    assert found["AlarmActions"] == [{"Ref": topic_id}]


@pytest.mark.parametrize("spec", [spec for spec in METRICS if spec.alarm and not spec.alarm.each],
                         ids=lambda spec: spec.name)
def test_app_alarm_is_the_one_declared_in_observability(synth, spec):
    found = _alarm(synth, spec.name)
    # THEN it reads the (service, stage) dimension set, which every EMF data point carries
    assert found["Dimensions"] == [{"Name": "service", "Value": spec.service}, {"Name": "stage", "Value": "dev"}]
    assert found["ComparisonOperator"] == spec.alarm.comparison
    assert found["Threshold"] == spec.alarm.threshold
    assert found["Statistic"] == spec.alarm.statistic
    assert found["Period"] == 60 * spec.alarm.period_minutes
    assert found["EvaluationPeriods"] == spec.alarm.evaluation_periods


@pytest.mark.parametrize("check", CANARY_CHECKS)
def test_canary_alarm_fires_when_a_check_fails_two_days_in_a_row(synth, check):
    topic_id, _ = _one(synth, "AWS::SNS::Topic")
    [found] = [r["Properties"] for r in _resources(synth, "AWS::CloudWatch::Alarm").values()
               if r["Properties"].get("MetricName") == CANARY_FAILED.name
               and {"Name": "check", "Value": check} in r["Properties"]["Dimensions"]]
    assert (found["Namespace"], found["AlarmActions"]) == (NAMESPACE, [{"Ref": topic_id}])
    assert found["Dimensions"] == [{"Name": "check", "Value": check},
                                   {"Name": "service", "Value": CANARY_FAILED.service},
                                   {"Name": "stage", "Value": "dev"}]
    assert (found["Statistic"], found["Period"], found["EvaluationPeriods"]) == ("Sum", 86400, 2)
    assert (found["ComparisonOperator"], found["Threshold"]) == ("GreaterThanOrEqualToThreshold", 1)


def test_storage_alarm_reads_the_daily_total(synth):
    found = _alarm(synth, "StorageOverThreshold")
    assert (found["Statistic"], found["Period"]) == ("Maximum", 86400)
    assert found["Threshold"] == 500 * 1024**3


def test_alarm_topic_is_encrypted_with_a_key_cloudwatch_may_use(synth):
    _, topic = _one(synth, "AWS::SNS::Topic")
    key_id = topic["Properties"]["KmsMasterKeyId"]["Fn::GetAtt"][0]
    key = synth.template()["Resources"][key_id]["Properties"]
    assert key["EnableKeyRotation"] is True
    principals = [s["Principal"] for s in key["KeyPolicy"]["Statement"]]
    assert {"Service": "cloudwatch.amazonaws.com"} in principals


def test_dashboard_shows_every_app_metric(synth):
    _, dashboard = _one(synth, "AWS::CloudWatch::Dashboard")
    body = str(dashboard["Properties"]["DashboardBody"])
    for name in (*(spec.name for spec in METRICS), "5XXError", "Throttles"):
        assert f'"{name}"' in body


# --- the Chalice API ----------------------------------------------------------------------------------------


def _api(synth) -> dict:
    return synth.template()["Resources"]["APIHandler"]["Properties"]


def test_api_serves_every_route_of_the_chalice_app(synth):
    from app import app

    api = next(iter(_resources(synth, "AWS::Serverless::Api").values()))["Properties"]
    assert set(api["DefinitionBody"]["paths"]) == set(app.routes)
    assert api["StageName"] == "dev"  # …/dev/api/capture: the stage is not a second "api"
    assert api["EndpointConfiguration"] == "REGIONAL"


def test_api_gateway_answers_its_own_errors_in_the_api_shape(synth):
    # GIVEN the gateway responses of the REST API
    responses = {r["Properties"]["ResponseType"]: r["Properties"]
                 for r in _resources(synth, "AWS::ApiGateway::GatewayResponse").values()}
    # THEN no route is a 404 not_found (not 403 "Missing Authentication Token"), and every other answer of
    # API Gateway itself is JSON {"error": {"code", "message"}}
    assert set(responses) == {"MISSING_AUTHENTICATION_TOKEN", "DEFAULT_4XX", "DEFAULT_5XX"}
    missing = responses["MISSING_AUTHENTICATION_TOKEN"]
    assert missing["StatusCode"] == "404"
    assert json.loads(missing["ResponseTemplates"]["application/json"])["error"]["code"] == "not_found"
    for response in responses.values():
        assert response["ResponseParameters"]["gatewayresponse.header.Content-Type"] == "'application/json'"
        assert '{"error": {"code": ' in response["ResponseTemplates"]["application/json"]


def test_api_dependencies_are_one_layer_shared_by_every_chalice_function(synth):
    # Chalice's managed layer is cached on requirements.txt alone: editing chalicelib re-zips only the app code
    [layer_id] = _resources(synth, "AWS::Serverless::LayerVersion")
    functions = _resources(synth, "AWS::Serverless::Function").values()
    assert all(f["Properties"]["Layers"] == [{"Ref": layer_id}] for f in functions)


def test_api_function_traces_within_the_api_gateway_limit(synth):
    api = _api(synth)
    assert api["Tracing"] == "Active"
    assert api["Timeout"] <= 29


def test_every_function_logs_to_its_own_group_with_retention(synth):
    groups = _resources(synth, "AWS::Logs::LogGroup")
    functions = [_api(synth), _worker(synth)[1]["Properties"]]
    for function in functions:
        config = function.get("LoggingConfig") or {"LogGroup": {"Ref": function["LoggingConfig"]}}
        group_id = config["LogGroup"]["Ref"]
        assert groups[group_id]["Properties"]["RetentionInDays"] == 30


def _schedules(synth) -> dict[str, dict]:
    """Chalice's scheduled functions by logical id, with their schedule expressions."""
    return {
        function_id: function
        for function_id, function in _resources(synth, "AWS::Serverless::Function").items()
        if any(event["Type"] == "Schedule" for event in function["Properties"].get("Events", {}).values())
    }


def test_schedules_run_maintenance_hourly_and_the_storage_snapshot_daily(synth):
    expressions = [
        event["Properties"]["Schedule"]
        for function in _schedules(synth).values()
        for event in function["Properties"]["Events"].values()
    ]
    assert "rate(1 hour)" in expressions
    # daily: a rate of one day, or a cron whose day-of-month, month, day-of-week and year fields are all open
    assert any(
        e == "rate(1 day)" or (e.startswith("cron(") and e.split()[2:] == ["*", "*", "?", "*)"]) for e in expressions
    )


def test_the_platform_canary_starts_daily_and_finishes_an_hour_later_writing_the_ops_table(synth):
    schedules = _schedules(synth)
    crons = {function_id: [event["Properties"]["Schedule"] for event in function["Properties"]["Events"].values()]
             for function_id, function in schedules.items()}
    assert crons["StartPlatformCanary"] == ["cron(0 4 * * ? *)"]
    assert crons["FinishPlatformCanary"] == ["cron(0 5 * * ? *)"]
    for function_id in ("StartPlatformCanary", "FinishPlatformCanary"):
        assert {"dynamodb:PutItem", "dynamodb:DeleteItem"} <= _table_actions(synth, f"{function_id}Role", "ops")


def test_scheduled_functions_have_own_roles_for_maintenance_only(synth):
    schedules = _schedules(synth)
    assert DELIVERY_FUNCTION in schedules
    for function_id, function in schedules.items():
        if function_id == DELIVERY_FUNCTION:
            continue  # its own grants: test_event_delivery_may_put_on_the_bus_and_nothing_else
        assert function["Properties"]["Timeout"] == 300
        actions = _actions(_policy_statements(synth, f"{function_id}Role"))
        assert {"s3:ListBucket", "s3:DeleteObject", "sqs:SendMessage", "dynamodb:UpdateItem"} <= actions
        assert "s3:PutObject" not in actions
        assert not any(a.startswith("secretsmanager:") for a in actions)


# --- least privilege ----------------------------------------------------------------------------------------


def test_no_policy_grants_a_service_wide_wildcard_action(synth):
    statements = [
        s
        for p in _resources(synth, "AWS::IAM::Policy").values()
        for s in p["Properties"]["PolicyDocument"]["Statement"]
    ]
    assert statements
    assert not {a for a in _actions(statements) if a == "*" or a.endswith(":*")}


def _worker_role(synth) -> str:
    return _worker(synth)[1]["Properties"]["Role"]["Fn::GetAtt"][0]


def _table_actions(synth, role_id: str, table: str) -> set[str]:
    """What ``role_id`` may do on the table named ``prsnl-dev-<table>``."""
    table_id, _ = _one(synth, "AWS::DynamoDB::Table", TableName=f"prsnl-dev-{table}")
    return _actions([s for s in _policy_statements(synth, role_id) if table_id in str(s["Resource"])])


def test_only_the_worker_writes_media(synth):
    assert {"s3:PutObject", "s3:AbortMultipartUpload"} <= _actions(_policy_statements(synth, _worker_role(synth)))
    assert "s3:PutObject" not in _actions(_policy_statements(synth, "ApiHandlerRole"))


def test_the_worker_cannot_read_api_keys_or_send_jobs(synth):
    worker_role = _worker_role(synth)
    assert _table_actions(synth, worker_role, "api-keys") == set()
    assert "sqs:SendMessage" not in _actions(_policy_statements(synth, worker_role))


def test_the_worker_writes_the_ops_table_and_the_api_only_reads_it(synth):
    assert "dynamodb:UpdateItem" in _table_actions(synth, _worker_role(synth), "ops")  # heartbeat, rollups
    api = _table_actions(synth, "ApiHandlerRole", "ops")
    assert {"dynamodb:GetItem", "dynamodb:Query", "dynamodb:DescribeTable"} <= api
    writes = ("dynamodb:Put", "dynamodb:Update", "dynamodb:Delete", "dynamodb:BatchWrite")
    assert not {a for a in api if a.startswith(writes)}


def test_only_the_api_records_telegram_deliveries(synth):
    assert "dynamodb:PutItem" in _table_actions(synth, "ApiHandlerRole", "idempotency")
    assert _table_actions(synth, _worker_role(synth), "idempotency") == set()


def test_the_api_reads_both_queues_depth_for_the_health_check(synth):
    dlq_id, _ = _one(synth, "AWS::SQS::Queue", QueueName="prsnl-dev-jobs-dlq")
    on_dlq = [s for s in _policy_statements(synth, "ApiHandlerRole") if dlq_id in str(s["Resource"])]
    assert _actions(on_dlq) == {"sqs:GetQueueAttributes", "sqs:GetQueueUrl"}


def _readable_secrets(synth, role_id: str) -> set[str]:
    statements = str(_policy_statements(synth, role_id))
    secrets = {k: r["Properties"]["Name"] for k, r in _resources(synth, "AWS::SecretsManager::Secret").items()}
    return {name.rsplit("/", 1)[1] for key, name in secrets.items() if key in statements}


def test_each_function_reads_only_the_secrets_it_needs(synth):
    api = {"telegram-token", "telegram-webhook-secret", "cdn-signing-key", "watch-secret"}
    assert _readable_secrets(synth, "ApiHandlerRole") == api
    assert _readable_secrets(synth, _worker_role(synth)) == {"telegram-token", "platform-cookies", "watch-secret"}


def _as_cloudformation(rule: dict) -> dict:
    """A rule of ``layout.lifecycle_rules()`` (the S3 API's shape) as CloudFormation writes it."""
    shaped = {"Id": rule["ID"], "Status": rule["Status"]}
    if rule["Filter"]["Prefix"]:
        shaped["Prefix"] = rule["Filter"]["Prefix"]
    expiration = rule.get("Expiration", {})
    if "Days" in expiration:
        shaped["ExpirationInDays"] = expiration["Days"]
    if "ExpiredObjectDeleteMarker" in expiration:
        shaped["ExpiredObjectDeleteMarker"] = expiration["ExpiredObjectDeleteMarker"]
    for name in ("AbortIncompleteMultipartUpload", "NoncurrentVersionExpiration"):
        if name in rule:
            shaped[name] = rule[name]
    if "Transitions" in rule:
        shaped["Transitions"] = [{"StorageClass": t["StorageClass"], "TransitionInDays": t["Days"]}
                                 for t in rule["Transitions"]]
    return shaped


def test_media_bucket_lifecycle_is_exactly_the_layouts_rules(synth):
    # GIVEN the one definition of the lifecycle (chalicelib.storage.layout), which the local bootstrap applies too
    expected = [_as_cloudformation(rule) for rule in layout.lifecycle_rules()]
    # THEN the deployed media bucket carries exactly those rules, and its replication the layout's media prefixes
    media = synth.template()["Resources"][_bucket_id(synth, "media/")]["Properties"]
    assert media["LifecycleConfiguration"]["Rules"] == expected
    replicated = [rule["Filter"]["Prefix"] for rule in media["ReplicationConfiguration"]["Rules"]]
    assert replicated == list(layout.MEDIA_PREFIXES)


# --- events -------------------------------------------------------------------------------------------------


def test_events_go_to_a_bus_with_an_archive_and_a_dlq_only_its_rules_may_fill(synth):
    bus_id, _ = _one(synth, "AWS::Events::EventBus", Name="prsnl-video-dev")
    _, archive = _one(synth, "AWS::Events::Archive")
    assert archive["Properties"]["SourceArn"] == {"Fn::GetAtt": [bus_id, "Arn"]}
    assert archive["Properties"]["EventPattern"] == {"source": ["prsnl.video"]}
    dlq_id, dlq = _one(synth, "AWS::SQS::Queue", QueueName="prsnl-dev-events-target-dlq")
    assert dlq["Properties"]["SqsManagedSseEnabled"] is True
    policy = next(p for p in _resources(synth, "AWS::SQS::QueuePolicy").values()
                  if p["Properties"]["Queues"] == [{"Ref": dlq_id}])
    allow = next(s for s in policy["Properties"]["PolicyDocument"]["Statement"] if s["Effect"] == "Allow")
    assert allow["Principal"] == {"Service": "events.amazonaws.com"} and allow["Action"] == "sqs:SendMessage"
    assert "rule/prsnl-video-dev/*" in json.dumps(allow["Condition"]["ArnLike"]["aws:SourceArn"])
    outputs = synth.template()["Outputs"]
    assert {"EventBusName", "EventBusArn", "EventTargetDlqArn", "OutgoingWebhookSecretName"} <= set(outputs)


def test_event_delivery_runs_every_minute_with_the_bus_and_the_webhook_secret(synth):
    function = _schedules(synth)[DELIVERY_FUNCTION]
    assert [e["Properties"]["Schedule"] for e in function["Properties"]["Events"].values()] == ["rate(1 minute)"]
    variables = synth.template()["Resources"]["APIHandler"]["Properties"]["Environment"]["Variables"]
    assert {"PRSNL_EVENT_BUS", "PRSNL_WEBHOOK_SECRET_SECRET"} <= set(variables)


def test_event_delivery_may_put_on_the_bus_and_nothing_else(synth):
    bus_id, _ = _one(synth, "AWS::Events::EventBus", Name="prsnl-video-dev")
    statements = _policy_statements(synth, f"{DELIVERY_FUNCTION}Role")
    put = [s for s in statements if "events:PutEvents" in _actions([s])]
    assert put and all(s["Resource"] == {"Fn::GetAtt": [bus_id, "Arn"]} for s in put)
    assert _table_actions(synth, f"{DELIVERY_FUNCTION}Role", "events") >= {"dynamodb:Query", "dynamodb:UpdateItem"}
    assert _table_actions(synth, f"{DELIVERY_FUNCTION}Role", "videos") == set()
    assert not {a for a in _actions(statements) if a.startswith(("s3:", "sqs:"))}
    assert "secretsmanager:GetSecretValue" in _actions(statements)


def test_every_writer_of_a_change_may_write_its_event(synth):
    for role in (_worker_role(synth), "ApiHandlerRole", "RunMaintenanceRole"):
        assert "dynamodb:PutItem" in _table_actions(synth, role, "events")
    assert "events:PutEvents" not in _actions(_policy_statements(synth, "ApiHandlerRole"))
