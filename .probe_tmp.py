import json, os, sys
from moto import mock_aws
from chalice.test import Client
from app import app
from chalicelib.config import get_settings
from chalicelib.local.bootstrap import bootstrap

with_app = "aws_xray_sdk" in sys.modules
with mock_aws():
    bootstrap(get_settings())
    with Client(app, stage_name="local") as client:
        status = client.http.get("/api/health").status_code
result = {"with_app": with_app, "status": status, "after_request": "aws_xray_sdk" in sys.modules}
if result["after_request"]:
    from aws_xray_sdk.core import xray_recorder, patcher

    def walk(entity):
        for sub in entity.subsegments:
            yield sub.name, getattr(sub, "namespace", None)
            yield from walk(sub)
    result["patched"] = sorted(patcher._PATCHED_MODULES)
    result["subsegments"] = sorted(set(walk(xray_recorder.current_segment())))
print(json.dumps(result))
