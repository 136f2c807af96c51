"""The site's own 404 and 500 pages (portal/views.py), JSON errors under /api/, and the favicon."""

from __future__ import annotations

import pytest
from django.test import RequestFactory
from django.urls import path
from django.utils.functional import SimpleLazyObject

from portal import views
from portal.urls import urlpatterns as site_urlpatterns


def _boom(request):
    raise RuntimeError("the database went away")


urlpatterns = [path("boom/", _boom), path("api/v1/boom", _boom), *site_urlpatterns]
handler404 = "portal.views.not_found"
handler500 = "portal.views.server_error"


@pytest.mark.django_db
def test_a_missing_page_is_the_sites_404_not_djangos(client, make_user):
    response = client.get("/no-such-page/<script>")
    html = response.content.decode()
    assert response.status_code == 404 and 'data-testid="error-404"' in html
    assert 'class="topbar"' in html and "/static/css/earshot.css" in html  # the site's look
    assert "<script>" not in html and "URLconf" not in html
    client.force_login(make_user(username="lost-listener"))
    assert "lost-listener" in client.get("/no-such-page/").content.decode()  # signed in: their menu


@pytest.mark.django_db
def test_the_api_keeps_json_errors(client):
    response = client.get("/api/v1/no-such-endpoint")
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"


@pytest.mark.urls("tests.test_error_pages")
@pytest.mark.django_db
def test_an_error_is_the_sites_500_page(client):
    client.raise_request_exception = False
    response = client.get("/boom/")
    assert response.status_code == 500 and 'data-testid="error-500"' in response.content.decode()
    assert "the database went away" not in response.content.decode()
    api = client.get("/api/v1/boom")
    assert api.status_code == 500 and api.json()["error"]["code"] == "server_error"


def test_the_500_page_needs_no_database_session_or_user():
    """No django_db mark: any query fails the test, as would a user or session looked up."""
    request = RequestFactory().get("/somewhere/")

    def no_user():
        raise AssertionError("the 500 page looked up the user")

    request.user = SimpleLazyObject(no_user)
    response = views.server_error(request)
    html = response.content.decode()
    assert response.status_code == 500 and 'data-testid="error-500"' in html and "/static/css/earshot.css" in html


def test_favicon_answers_at_the_root(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 200 and response["Content-Type"] == "image/x-icon"
    assert response.content[:4] == b"\0\0\1\0" and "max-age=86400" in response["Cache-Control"]
