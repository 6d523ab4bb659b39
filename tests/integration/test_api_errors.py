"""One error shape everywhere, through chalice's test client (the same gateway code as ``chalice local``; the
real ``chalice local`` is checked in tests/e2e/test_api_stack.py): unknown paths, wrong methods, bodies that
are not JSON, and the OpenAPI document with its browsable page."""

from __future__ import annotations

import pytest
import yaml


def error_of(response, status: int) -> dict:
    assert response.status_code == status, response.body
    assert response.headers["Content-Type"].startswith("application/json")
    return response.json_body["error"]


@pytest.mark.parametrize("path", ["/nothing", "/api/nothing", "/api/videos/v1/nothing/deeper",
                                  "/watch/a/b/c", "/a/b/c/d/e/f/g/h"])
def test_an_unknown_path_is_404_not_found(client, path):
    for method in ("GET", "POST", "DELETE"):
        error = error_of(client.http.request(method, path), 404)
        assert error["code"] == "not_found" and path in error["message"]


def test_a_wrong_method_is_405_with_the_methods_allowed(client, user):
    response = client.http.put("/api/videos", headers=user.headers, body="{}")
    assert error_of(response, 405)["code"] == "method_not_allowed"
    assert response.headers["Allow"] == "GET"
    assert client.http.delete("/api/capture").headers["Allow"] == "POST"


def test_a_body_that_is_not_json_is_refused_with_a_message_naming_the_header(client, user):
    headers = {"Authorization": user.headers["Authorization"]}
    for content_type in ("text/plain", "application/x-www-form-urlencoded"):
        error = error_of(client.http.post("/api/capture", headers={**headers, "Content-Type": content_type},
                                          body='{"url": "https://example.com/v.mp4"}'), 415)
        assert error["code"] == "unsupported_media_type" and "Content-Type: application/json" in error["message"]
    malformed = client.http.post("/api/capture", headers=user.headers, body='{"url": ')
    assert error_of(malformed, 400)["code"] == "invalid_json"


def test_the_openapi_document_and_its_page_are_served(client):
    document = client.http.get("/api/openapi.yaml")
    assert document.status_code == 200 and document.headers["Content-Type"].startswith("application/yaml")
    spec = yaml.safe_load(document.body)
    assert "Progress" in spec["components"]["schemas"] and "/watch/{token}" in spec["paths"]
    page = client.http.get("/api/docs").body.decode()
    assert 'src="../static/vendor/redoc/redoc.standalone.js"' in page and "openapi.yaml" in page
    script = client.http.get("/static/vendor/redoc/redoc.standalone.js")
    assert script.status_code == 200 and script.headers["Content-Type"].startswith("text/javascript")
    assert client.http.get("/static/vendor/redoc/missing.js").status_code == 404
    assert client.http.get("/static/..").status_code == 404


def test_the_web_library_is_served_from_the_package(client):
    page = client.http.get("/")
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    html = page.body.decode()
    assert 'src="static/app.js"' in html and "http" not in html.replace("https://…", "")
    for name, kind in (("app.js", "text/javascript"), ("app.css", "text/css")):
        response = client.http.get(f"/static/{name}")
        assert response.status_code == 200 and response.headers["Content-Type"].startswith(kind)
