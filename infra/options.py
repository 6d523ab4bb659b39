"""Deployment choices that are not application settings, read from CDK context (cdk.json or ``-c key=value``)."""

from __future__ import annotations

from dataclasses import dataclass

from constructs import Node

GB = 1024**3


@dataclass(frozen=True)
class InfraOptions:
    noncurrent_version_days: int = 30
    storage_alarm_bytes: int = 500 * GB
    alarm_email: str | None = None
    webhook_url: str | None = None  # PRSNL_WEBHOOK_URL of the delivery function (its secret is generated)


def options_from_context(node: Node) -> InfraOptions:
    """``InfraOptions`` with every field overridable by a context value of the same name."""
    defaults = InfraOptions()
    values = {}
    for name, default in vars(defaults).items():
        value = node.try_get_context(name)
        if value is not None:
            values[name] = type(default)(value) if default is not None else value
    return InfraOptions(**values)
