"""The OpenAPI 3 schema: valid, and every operation documents its errors in the one error shape."""

import pytest
from openapi_spec_validator import validate

pytestmark = pytest.mark.django_db


@pytest.fixture
def schema(client):
    response = client.get("/api/v1/schema", {"format": "json"})
    assert response.status_code == 200
    return response.json()


def test_the_schema_is_valid_openapi_3(schema):
    assert schema["openapi"].startswith("3.")
    validate(schema)


def test_every_operation_documents_its_errors(schema):
    operations = [(path, method, op) for path, item in schema["paths"].items() for method, op in item.items()]
    assert len(operations) >= 10
    for path, method, operation in operations:
        responses = operation["responses"]
        assert {"401", "429"} <= set(responses), f"{method} {path}"
        for code, response in responses.items():
            if code.startswith("4"):
                ref = response["content"]["application/json"]["schema"]["$ref"]
                assert ref.endswith("/Error"), f"{method} {path} {code}"
    recognitions = schema["paths"]["/api/v1/recognitions"]["post"]
    assert {"200", "202", "400", "413", "415", "422"} <= set(recognitions["responses"])
    assert {"multipart/form-data", "audio/pcm"} <= set(recognitions["requestBody"]["content"])
    artwork = schema["paths"]["/api/v1/albums/{id}/artwork"]
    assert set(artwork) >= {"get", "put", "post", "delete"}
    assert set(artwork["get"]["responses"]["200"]["content"]) == {"image/jpeg"}
    for method in ("put", "post"):
        assert set(artwork[method]["requestBody"]["content"]) == {"multipart/form-data"}
        assert {"200", "400", "403", "404", "413", "415", "422"} <= set(artwork[method]["responses"])


def test_the_docs_page_is_served_without_a_cdn(client):
    page = client.get("/api/v1/docs")
    assert page.status_code == 200
    assert "swagger-ui" in page.content.decode() and "cdn.jsdelivr" not in page.content.decode()


def test_a_match_and_a_segment_say_their_change_of_speed_and_pitch_or_null(schema):
    components = schema["components"]["schemas"]
    for name in ("Match", "Segment"):
        fields = components[name]["properties"]
        assert fields["speed"]["nullable"] and fields["pitch_semitones"]["nullable"], name
        assert {"speed", "pitch_semitones"} <= set(components[name]["required"]), name


def test_the_track_search_documents_its_capped_count(schema):
    tracks = schema["components"]["schemas"]["PaginatedTrackList"]
    assert {"count", "count_is_exact", "results"} <= set(tracks["required"])
    assert tracks["properties"]["count_is_exact"]["type"] == "boolean"
    assert "count_is_exact" not in schema["components"]["schemas"]["PaginatedAlbumList"]["properties"]
