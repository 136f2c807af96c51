"""One JSON error shape for the whole API: {"error": {"code", "message", "details"?}}."""

from __future__ import annotations

from django.http import Http404, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

__all__ = ["ApiError", "api_exception_handler", "error_body", "json_error"]


class ApiError(exceptions.APIException):
    """An error with our own code and status (e.g. 415 not_media, 422 no_signal)."""

    def __init__(self, status_code: int, code: str, message: str):
        super().__init__(detail=message, code=code)
        self.status_code = status_code
        self.error_code = code


def error_body(code: str, message: str, details=None) -> dict:
    body = {"error": {"code": code, "message": message}}
    if details:
        body["error"]["details"] = details
    return body


def json_error(status_code: int, code: str, message: str) -> JsonResponse:
    return JsonResponse(error_body(code, message), status=status_code)


def api_exception_handler(exc, context):
    if isinstance(exc, Http404):
        # get_object_or_404's message names the model; every missing or foreign object reads the same.
        exc = exceptions.NotFound("Not found.", code="not_found")
    response = exception_handler(exc, context)
    if response is None:
        return None  # a real bug: Django's 500 handler answers (in JSON for /api/)
    if isinstance(exc, ApiError):
        code, message, details = exc.error_code, str(exc.detail), None
    elif isinstance(exc, exceptions.ValidationError):
        code, message, details = "invalid", "The request is not valid.", exc.detail
    else:
        detail = exc.detail if isinstance(exc, exceptions.APIException) else str(exc)
        code = getattr(detail, "code", None) or getattr(exc, "default_code", "error")
        message = str(detail)
        details = None
    if isinstance(exc, exceptions.Throttled):
        code = "throttled"
        message = f"Too many requests; retry in {exc.wait:.0f} s." if exc.wait else "Too many requests."
    if response.status_code == status.HTTP_401_UNAUTHORIZED:
        code = "not_authenticated" if code in {"not_authenticated", "error"} else code
    kept = {name: response[name] for name in ("Retry-After", "WWW-Authenticate", "Allow") if name in response}
    return Response(error_body(code, message, details), status=response.status_code, headers=kept)
