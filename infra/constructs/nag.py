"""cdk-nag acknowledgments: one rule (or one IAM5 finding) on one construct, always with its reason."""

from __future__ import annotations

from aws_cdk import Acknowledgment, CfnElement, Stack, Validations
from constructs import IConstruct


def acknowledge(scope: IConstruct, rule: str, reason: str) -> None:
    """Acknowledge ``AwsSolutions-<rule>`` for ``scope`` and its children."""
    Validations.of(scope).acknowledge(Acknowledgment(id=f"AwsSolutions-{rule}", reason=reason))


def arn_wildcard(resource: IConstruct, suffix: str) -> str:
    """The IAM5 finding for ``<Resource.Arn><suffix>`` (e.g. ``/*``, ``/index/*``), as cdk-nag names it."""
    cfn = resource if isinstance(resource, CfnElement) else resource.node.default_child
    stack = Stack.of(cfn)
    return f"IAM5[Resource::<{stack.resolve(stack.get_logical_id(cfn))}.Arn>{suffix}]"
