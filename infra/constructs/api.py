"""The Chalice app (REST API, Telegram webhook, light schedules) through Chalice's CDK construct.

Chalice packages the app at synth: its dependencies as one managed layer (``automatic_layer``, cached in
``.chalice/deployments/`` on the hash of requirements.txt alone, so editing chalicelib does not download them
again; slimmed by ``api_package``) and the app code per function. Each function gets its own role
(``autogen_policy: false``); the stack then grants every role only what its function does. Chalice names the API
function ``APIHandler`` and its role ``ApiHandlerRole``; any other function ``X`` (a schedule) has the role
``XRole``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from aws_cdk import CfnResource, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs

from chalicelib.api import fallback
from infra.constructs import nag
from infra.constructs.api_package import SlimChalice

API_FUNCTION = "APIHandler"
API_TIMEOUT_SECONDS = 29  # API Gateway's integration limit
SCHEDULE_TIMEOUT_SECONDS = 300
SCHEDULE_MEMORY_MB = 512
# Every Chalice role starts with X-Ray only (its functions trace); logs and data access are granted by the stack.
BASE_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Action": ["xray:PutTraceSegments", "xray:PutTelemetryRecords"], "Resource": "*"}
    ],
}


XRAY_REASON = "X-Ray's PutTraceSegments and PutTelemetryRecords have no resource-level permissions."


@dataclass(frozen=True)
class ChaliceFunction:
    logical_id: str
    resource: CfnResource
    role: iam.IRole


def _role_id(function_id: str) -> str:
    return "ApiHandlerRole" if function_id == API_FUNCTION else f"{function_id}Role"


class ChaliceApi:
    """The packaged app and its functions; the construct must sit directly in the stack named like the stage."""

    def __init__(self, stack: Stack, *, source_dir: Path, work_dir: Path, environment: dict[str, str],
                 stage: str) -> None:
        policy_file = work_dir / "chalice-base-policy.json"
        policy_file.write_text(json.dumps(BASE_POLICY))
        self.chalice = SlimChalice(
            stack,
            "Api",
            source_dir=str(source_dir),
            stage_config={
                "api_gateway_endpoint_type": "REGIONAL",
                # the API Gateway stage is the path's first segment: named after the stage, so that a deployed
                # capture is …/prod/api/capture (not …/api/api/capture), the library …/prod/, watch links …/prod/watch/…
                "api_gateway_stage": stage,
                "autogen_policy": False,
                "iam_policy_file": str(policy_file),  # absolute: Chalice joins it to .chalice/
                "xray": True,
                "automatic_layer": True,
                "lambda_timeout": API_TIMEOUT_SECONDS,
                "environment_variables": environment,
            },
        )
        nag.acknowledge(self.chalice.sam_template, "IAM5[Resource::*]", XRAY_REASON)
        self.app_name = json.loads((source_dir / ".chalice" / "config.json").read_text())["app_name"]
        self.functions = [self._function(child) for child in self._serverless_functions()]
        self._json_gateway_responses()

    @property
    def api(self) -> ChaliceFunction:
        return next(f for f in self.functions if f.logical_id == API_FUNCTION)

    @property
    def schedules(self) -> list[ChaliceFunction]:
        return [f for f in self.functions if f.logical_id != API_FUNCTION]

    @property
    def url(self) -> str:
        return self.chalice.sam_template.get_output("EndpointURL").value

    def _json_gateway_responses(self) -> None:
        """What API Gateway answers by itself (no route: "Missing Authentication Token"; throttling; its own 5xx)
        in the app's error shape, so that every non-2xx answer is ``{"error": {"code", "message"}}``."""
        rest_api = self.chalice.sam_template.get_resource("RestAPI")
        for response_type, status, body in (
                ("MISSING_AUTHENTICATION_TOKEN", "404", fallback.not_found_body("$context.path")),
                ("DEFAULT_4XX", None, {"error": {"code": "$context.error.responseType",
                                                 "message": "$context.error.messageString"}}),
                ("DEFAULT_5XX", None, {"error": {"code": "$context.error.responseType",
                                                 "message": "$context.error.messageString"}})):
            properties = {"RestApiId": rest_api.ref, "ResponseType": response_type,
                          # messageString is a quoted JSON string already: the template leaves it unquoted
                          "ResponseTemplates": {"application/json": json.dumps(body).replace(
                              '"$context.error.messageString"', "$context.error.messageString")},
                          "ResponseParameters": {"gatewayresponse.header.Content-Type": "'application/json'"}}
            if status:
                properties["StatusCode"] = status
            CfnResource(self.chalice, f"GatewayResponse{response_type.title().replace('_', '')}",
                        type="AWS::ApiGateway::GatewayResponse", properties=properties)

    def _serverless_functions(self) -> list[CfnResource]:
        return [
            child
            for child in self.chalice.sam_template.node.children
            if isinstance(child, CfnResource) and child.cfn_resource_type == "AWS::Serverless::Function"
        ]

    def _function(self, resource: CfnResource) -> ChaliceFunction:
        function_id = resource.node.id
        role = self.chalice.get_role(_role_id(function_id))
        # Chalice's own log_retention_in_days names the API's group wrongly (${ApiHandler}): make the group here.
        log_group = logs.LogGroup(self.chalice, f"{function_id}Logs", retention=logs.RetentionDays.ONE_MONTH)
        log_group.grant_write(role)
        resource.add_property_override("LoggingConfig", {"LogGroup": log_group.log_group_name})
        if function_id != API_FUNCTION:
            resource.add_property_override("Timeout", SCHEDULE_TIMEOUT_SECONDS)
            resource.add_property_override("MemorySize", SCHEDULE_MEMORY_MB)
        return ChaliceFunction(function_id, resource, role)
