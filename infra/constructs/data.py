"""DynamoDB tables generated from the PynamoDB models: keys, indexes and TTL are declared once, in models.py."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from constructs import Construct
from pynamodb.attributes import TTLAttribute
from pynamodb.models import Model

_TYPES = {"S": dynamodb.AttributeType.STRING, "N": dynamodb.AttributeType.NUMBER, "B": dynamodb.AttributeType.BINARY}
_PROJECTIONS = {
    "ALL": dynamodb.ProjectionType.ALL,
    "KEYS_ONLY": dynamodb.ProjectionType.KEYS_ONLY,
    "INCLUDE": dynamodb.ProjectionType.INCLUDE,
}


def _keys(key_schema: list[dict], types: dict[str, str]) -> dict[str, dynamodb.Attribute]:
    """``{"partition_key": ..., "sort_key": ...}`` from a DynamoDB KeySchema."""
    role = {"HASH": "partition_key", "RANGE": "sort_key"}
    return {
        role[key["KeyType"]]: dynamodb.Attribute(name=key["AttributeName"], type=_TYPES[types[key["AttributeName"]]])
        for key in key_schema
    }


def _index(index: dict) -> dict:
    projection = index["projection"]
    return {
        "index_name": index["index_name"],
        "projection_type": _PROJECTIONS[projection["ProjectionType"]],
        "non_key_attributes": projection.get("NonKeyAttributes"),
    }


def ttl_attribute(model: type[Model]) -> str | None:
    """The model's TTLAttribute (DynamoDB allows one per table), by its stored name."""
    names = [attr.attr_name for attr in model.get_attributes().values() if isinstance(attr, TTLAttribute)]
    return names[0] if names else None


def table_from_model(scope: Construct, model: type[Model], table_name: str) -> dynamodb.Table:
    """An on-demand table with point-in-time recovery, shaped exactly as ``model.create_table`` would make it."""
    schema = model._get_schema()  # the same schema PynamoDB's create_table sends (local bootstrap, tests)
    types = {d["AttributeName"]: d["AttributeType"] for d in schema["attribute_definitions"]}
    table = dynamodb.Table(
        scope,
        model.__name__,
        table_name=table_name,
        billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
        point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
            point_in_time_recovery_enabled=True
        ),
        encryption=dynamodb.TableEncryption.AWS_MANAGED,
        deletion_protection=True,
        removal_policy=RemovalPolicy.RETAIN,
        time_to_live_attribute=ttl_attribute(model),
        **_keys(schema["key_schema"], types),
    )
    for index in schema["global_secondary_indexes"]:
        table.add_global_secondary_index(**_index(index), **_keys(index["key_schema"], types))
    for index in schema["local_secondary_indexes"]:
        table.add_local_secondary_index(**_index(index), sort_key=_keys(index["key_schema"], types)["sort_key"])
    return table
