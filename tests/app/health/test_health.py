from __future__ import annotations

from tests.conftest import Live, problem


def test_health_and_readiness(live: Live) -> None:
    with live.client() as http:
        assert http.get("/healthz").json() == {"status": "ok"}
        ready = http.get("/readyz")
        assert ready.status_code == 200
        assert ready.json()["status"] == "ready"


def test_openapi_document_lists_the_api(live: Live) -> None:
    with live.client() as http:
        spec = http.get("/openapi.json").json()
    paths = spec["paths"]
    for path in (
        "/api/v1/auth/login",
        "/api/v1/clients",
        "/api/v1/clients/{client_id}",
        "/api/v1/audit-events",
        "/api/v1/organisations",
        "/api/v1/teams",
        "/api/v1/users",
        "/api/v1/clients/{client_id}/consents",
    ):
        assert path in paths
    # Errors are documented as they are sent: refusals and outages are problems.
    answers = paths["/api/v1/clients"]["get"]["responses"]
    for status in ("4XX", "503"):
        assert answers[status]["content"]["application/problem+json"]["schema"] == {
            "$ref": "#/components/schemas/Problem"
        }


def test_unknown_route_is_problem_json(live: Live) -> None:
    with live.client() as http:
        problem(http.get("/api/v1/nowhere"), 404)


def test_security_headers_on_every_response(live: Live) -> None:
    with live.client() as http:
        reply = http.get("/healthz")
    csp = reply.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert reply.headers["x-content-type-options"] == "nosniff"
