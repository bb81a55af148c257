"""The OpenAPI schema describes the articles and AI routes with their error answers."""

import pytest

pytestmark = pytest.mark.django_db


@pytest.fixture
def paths(api_client):
    response = api_client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    return response.json()["paths"]


@pytest.mark.parametrize(
    ("path", "price"),
    [
        ("/api/ai/generate-seo-title", "Costs 300 tokens."),
        ("/api/ai/generate-meta-description", "Costs 400 tokens."),
        ("/api/ai/rewrite", "Costs 500 + ceil(len(text) / 10) tokens, at most 2000"),
        ("/api/ai/find-image", "Costs 100 tokens."),
    ],
)
def test_ai_actions(paths, path, price):
    operation = paths[path]["post"]

    assert price in operation["description"]
    assert {"200", "400", "401", "402", "404", "409", "422", "502", "504"} <= set(
        operation["responses"]
    )
    assert [p["name"] for p in operation["parameters"]] == ["Idempotency-Key"]


def test_articles(paths):
    assert set(paths["/api/articles"]) == {"get", "post"}
    assert set(paths["/api/articles/{id}"]) == {"get", "patch", "delete"}
    assert "402" in paths["/api/articles"]["post"]["responses"]
