"""Alarms to one SNS topic and one dashboard: the platform's metrics plus the app's (chalicelib.observability).

The app's metrics are EMF with two dimension sets, (service, stage) and (service, stage, breakdown); alarms and
graphs read the first, which holds every data point.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from chalicelib.ops.metrics import STORAGE_METRIC, MetricSpec

FIVE_MINUTES = Duration.minutes(5)
API_LATENCY_P90_MS = 3000
API_5XX_PER_5_MINUTES = 5
# what a graph of a metric shows, by unit: a latency-like figure is a percentile, counts and bytes add up
_GRAPH_STATISTIC = {"Seconds": "p90"}


class Monitoring(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        stage: str,
        namespace: str,
        metrics: Sequence[MetricSpec],
        worker: lambda_.IFunction,
        dlq: sqs.IQueue,
        jobs: sqs.IQueue,
        api_name: str,
        api_stage: str,
        storage_alarm_bytes: int,
        alarm_email: str | None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.topic = _alarm_topic(self)
        if alarm_email:
            self.topic.add_subscription(subscriptions.EmailSubscription(alarm_email))
        self._stage, self._namespace = stage, namespace
        self._alarms: list[cloudwatch.Alarm] = []
        api = {"ApiName": api_name, "Stage": api_stage}
        api_5xx = cloudwatch.Metric(
            namespace="AWS/ApiGateway", metric_name="5XXError", dimensions_map=api, statistic="Sum", period=FIVE_MINUTES
        )
        api_latency = cloudwatch.Metric(
            namespace="AWS/ApiGateway", metric_name="Latency", dimensions_map=api, statistic="p90", period=FIVE_MINUTES
        )
        dlq_visible = dlq.metric_approximate_number_of_messages_visible(statistic="Maximum", period=FIVE_MINUTES)
        self._alarm("DlqNotEmpty", dlq_visible, 1, "A job message landed in the dead-letter queue")
        self._alarm("WorkerErrors", worker.metric_errors(period=FIVE_MINUTES), 1, "The worker function failed")
        self._alarm("WorkerThrottles", worker.metric_throttles(period=FIVE_MINUTES), 1, "The worker was throttled")
        self._alarm("Api5xx", api_5xx, API_5XX_PER_5_MINUTES, "The API answers 5xx")
        self._alarm("ApiLatencyP90", api_latency, API_LATENCY_P90_MS, "API p90 latency above 3 s", periods=3)
        app_metrics = {spec.name: self._app_metric(spec) for spec in metrics}
        for spec in metrics:
            if spec.alarm:
                self._app_alarm(spec, app_metrics[spec.name])
        # StorageBytes is one daily total (the snapshot schedule); its threshold is a deployment choice.
        storage = app_metrics[STORAGE_METRIC].with_(statistic="Maximum", period=Duration.days(1))
        self._alarm("StorageOverThreshold", storage, storage_alarm_bytes, "Stored bytes above the threshold")
        self.dashboard = cloudwatch.Dashboard(self, "Dashboard", dashboard_name=f"prsnl-video-{stage}")
        self.dashboard.add_widgets(
            _graph(
                "API requests and errors",
                [
                    cloudwatch.Metric(
                        namespace="AWS/ApiGateway",
                        metric_name=name,
                        dimensions_map=api,
                        statistic="Sum",
                        period=FIVE_MINUTES,
                    )
                    for name in ("Count", "4XXError", "5XXError")
                ],
            ),
            _graph("API latency p90", [api_latency]),
            _graph("Worker", [worker.metric_invocations(), worker.metric_errors(), worker.metric_throttles()]),
            _graph("Worker duration", [worker.metric_duration(statistic="p90")]),
        )
        self.dashboard.add_widgets(
            _graph(
                "Queues",
                [
                    jobs.metric_approximate_number_of_messages_visible(),
                    dlq_visible,
                    jobs.metric_approximate_age_of_oldest_message(),
                ],
            ),
            *(
                _graph(spec.name, [app_metrics[spec.name].with_(label=f"{spec.name} ({spec.unit})")])
                for spec in metrics
                if spec.name != STORAGE_METRIC
            ),
            _graph(STORAGE_METRIC, [storage]),
            cloudwatch.AlarmStatusWidget(title="Alarms", alarms=self._alarms, width=24),
        )

    def _app_metric(self, spec: MetricSpec) -> cloudwatch.Metric:
        return cloudwatch.Metric(
            namespace=self._namespace,
            metric_name=spec.name,
            dimensions_map={"service": spec.service, "stage": self._stage},
            statistic=_GRAPH_STATISTIC.get(spec.unit, "Sum"),
            period=FIVE_MINUTES,
        )

    def _app_alarm(self, spec: MetricSpec, metric: cloudwatch.Metric) -> None:
        """One alarm on the total, or one per value of the spec's ``each`` dimension (EMF writes both sets)."""
        alarm = spec.alarm
        dimension, values = alarm.each or (None, (None,))
        for value in values:
            per_value = {**metric.dimensions, dimension: value} if dimension else metric.dimensions
            self._alarm(
                f"{spec.name}-{value}" if dimension else spec.name,
                metric.with_(statistic=alarm.statistic, period=Duration.minutes(alarm.period_minutes),
                             dimensions_map=per_value),
                alarm.threshold,
                f"{spec.description}{f' ({dimension} {value})' if dimension else ''} "
                f"({alarm.statistic} {alarm.comparison} {alarm.threshold:g}, {alarm.evaluation_periods} periods "
                f"of {alarm.period_minutes} min)",
                periods=alarm.evaluation_periods,
                comparison=comparison_operator(alarm.comparison),
            )

    def _alarm(
        self,
        name: str,
        metric: cloudwatch.IMetric,
        threshold: float,
        description: str,
        periods: int = 1,
        comparison: cloudwatch.ComparisonOperator = cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    ) -> None:
        alarm = metric.create_alarm(
            self,
            name,
            alarm_description=description,
            threshold=threshold,
            evaluation_periods=periods,
            comparison_operator=comparison,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        alarm.add_alarm_action(actions.SnsAction(self.topic))
        self._alarms.append(alarm)


def comparison_operator(name: str) -> cloudwatch.ComparisonOperator:
    """CloudWatch's name (``GreaterThanOrEqualToThreshold``, as in ops.metrics.AlarmSpec) as the CDK enum."""
    return cloudwatch.ComparisonOperator[re.sub(r"(?<!^)(?=[A-Z])", "_", name).upper()]


def _alarm_topic(scope: Construct) -> sns.Topic:
    """An encrypted topic; CloudWatch cannot publish with the AWS-managed SNS key, so the key is ours."""
    key = kms.Key(scope, "AlarmKey", enable_key_rotation=True, description="Encrypts the PRSNL alarm topic")
    key.grant(iam.ServicePrincipal("cloudwatch.amazonaws.com"), "kms:Decrypt", "kms:GenerateDataKey*")
    return sns.Topic(scope, "Alarms", master_key=key, enforce_ssl=True)


def _graph(title: str, metrics: list[cloudwatch.IMetric]) -> cloudwatch.GraphWidget:
    return cloudwatch.GraphWidget(title=title, left=metrics, width=6)
