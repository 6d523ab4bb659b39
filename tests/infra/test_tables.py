"""The DynamoDB tables in the template are the PynamoDB models: same keys, indexes, projections and TTL."""

from __future__ import annotations

import pytest

from chalicelib.config import load_settings
from chalicelib.records import models
from infra.constructs.data import ttl_attribute


def _tables_by_name(synth) -> dict[str, dict]:
    resources = synth.template()["Resources"].values()
    return {r["Properties"]["TableName"]: r for r in resources if r["Type"] == "AWS::DynamoDB::Table"}


def _key_set(key_schema: list[dict]) -> set[tuple[str, str]]:
    return {(k["AttributeName"], k["KeyType"]) for k in key_schema}


def _template_indexes(indexes: list[dict]) -> dict[str, tuple]:
    return {i["IndexName"]: (_key_set(i["KeySchema"]), i["Projection"]) for i in indexes}


def _model_indexes(indexes: list[dict]) -> dict[str, tuple]:
    return {i["index_name"]: (_key_set(i["key_schema"]), i["projection"]) for i in indexes}


@pytest.mark.parametrize("model", models.ALL_MODELS, ids=lambda m: m.__name__)
def test_table_matches_model_when_synthesized(synth, settings_env, model):
    # GIVEN the schema PynamoDB itself sends to CreateTable (the local bootstrap and moto tests use it too)
    schema = model._get_schema()
    settings_env(PRSNL_STAGE="dev")
    table_name = getattr(load_settings(), models.TABLE_SETTINGS[model])
    # WHEN the stack is synthesized for the dev stage
    table = _tables_by_name(synth)[table_name]["Properties"]
    # THEN keys, attribute types, indexes and TTL are the model's
    assert _key_set(table["KeySchema"]) == _key_set(schema["key_schema"])
    assert {(d["AttributeName"], d["AttributeType"]) for d in table["AttributeDefinitions"]} == {
        (d["AttributeName"], d["AttributeType"]) for d in schema["attribute_definitions"]
    }
    for template_key, schema_key in (
        ("GlobalSecondaryIndexes", "global_secondary_indexes"),
        ("LocalSecondaryIndexes", "local_secondary_indexes"),
    ):
        assert _template_indexes(table.get(template_key, [])) == _model_indexes(schema[schema_key])
    ttl = ttl_attribute(model)
    assert table.get("TimeToLiveSpecification") == ({"AttributeName": ttl, "Enabled": True} if ttl else None)


def test_every_model_has_exactly_one_table(synth):
    assert len(_tables_by_name(synth)) == len(models.ALL_MODELS)


def test_jobs_expire_through_ttl_on_expires_at():
    assert ttl_attribute(models.Job) == "expires_at"


def test_tables_are_on_demand_with_point_in_time_recovery(template):
    from aws_cdk.assertions import Match

    tables = template.find_resources("AWS::DynamoDB::Table")
    assert len(tables) == len(models.ALL_MODELS)
    template.all_resources_properties(
        "AWS::DynamoDB::Table",
        {
            "BillingMode": "PAY_PER_REQUEST",
            "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
            "SSESpecification": {"SSEEnabled": True},
            "DeletionProtectionEnabled": True,
            "TableName": Match.string_like_regexp("^prsnl-dev-"),
        },
    )
    assert all(t["DeletionPolicy"] == "Retain" for t in tables.values())
