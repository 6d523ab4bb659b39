"""``make run``'s API: the Chalice app under chalice's own local server, as ``chalice local`` runs it, with two
changes that ``chalice local`` offers no option for:

- a listen backlog of 128 instead of 5 (a burst of simultaneous connections got resets) and TCP_NODELAY on
  every connection (no ~40 ms wait for a delayed ACK between the headers and the body of an answer);
- the process environment wins over ``.chalice/config.json``'s stage variables (``chalice local`` loads the
  stage's variables over it, so ``PRSNL_ALLOW_LOOPBACK_URLS=false make run`` was ignored);
- a path deeper than the catch-all routes (``api.fallback``) answers the 404 that API Gateway's gateway response
  gives in AWS, not chalice local's 403 (whose body repeated the caller's Authorization header).

``python -m chalicelib.local.api_server HOST PORT`` (the stack starts it).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
from http.server import BaseHTTPRequestHandler

from chalice import local
from chalice.cli.factory import CLIFactory

from chalicelib.api.fallback import not_found_body
from chalicelib.api.http import JSON
from chalicelib.local.processes import die_with_parent

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CHALICE_STAGE = "local"  # the stage of .chalice/config.json; PRSNL_STAGE names the resources
BACKLOG = 128


class Gateway(local.LocalGateway):
    def handle_request(self, method, path, headers, body):
        try:
            return super().handle_request(method, path, headers, body)
        except local.ForbiddenError:  # no route takes the path (the app has no Chalice authorizer to refuse one)
            return {"statusCode": 404, "headers": dict(JSON), "multiValueHeaders": {},
                    "body": json.dumps(not_found_body(path.split("?", 1)[0]))}


class Handler(local.ChaliceRequestHandler):
    def __init__(self, request, client_address, server, app_object, config):
        self.local_gateway = Gateway(app_object, config)  # what chalice's handler does with its own gateway
        BaseHTTPRequestHandler.__init__(self, request, client_address, server)


class BurstServer(local.ThreadedHTTPServer):
    request_queue_size = BACKLOG

    def get_request(self):
        connection, address = super().get_request()
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return connection, address


def create_server(host: str, port: int) -> local.LocalDevServer:
    factory = CLIFactory(project_dir=ROOT, environ={})  # the stage's variables land in this throwaway dict
    config = factory.create_config_obj(chalice_stage_name=CHALICE_STAGE)
    for name, value in config.environment_variables.items():
        os.environ.setdefault(name, value)
    app = config.chalice_app
    # what chalice.local.create_local_server does before it builds the server we replace
    local.CustomLocalChalice.__bases__ = (local.LocalChalice, app.__class__)
    app.__class__ = local.CustomLocalChalice
    return local.LocalDevServer(app, config, host, port, handler_cls=Handler, server_cls=BurstServer)


def main(argv: list[str]) -> int:
    from chalicelib.local.console import WholeLines

    die_with_parent()
    sys.stdout = WholeLines(sys.stdout)  # requests on several threads print their metrics
    host, port = argv
    os.environ["AWS_CHALICE_CLI_MODE"] = "true"  # as `chalice local` sets it
    server = create_server(host, int(port))
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
