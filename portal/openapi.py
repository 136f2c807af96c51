"""OpenAPI helpers: every API error response documented with the one error shape."""

from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()
    details = serializers.JSONField(required=False)


class ErrorSerializer(serializers.Serializer):
    """The one error shape of the API: {"error": {"code", "message", "details"?}}."""

    error = ErrorDetailSerializer()


_MEANING = {
    400: "Bad request: no file, several files, or invalid fields.",
    401: "No or invalid credentials (missing, wrong or revoked API key).",
    403: "This account may not do this.",
    404: "No such object (or it belongs to someone else).",
    409: "The same recording is already in the catalog.",
    413: "The body is larger than the upload limit.",
    415: "Not media Earshot can read, or media without audio.",
    422: "Media that cannot be recognised: too long, silent, truncated.",
    429: "Too many requests; see the Retry-After header.",
}


def error_responses(*codes: int) -> dict:
    return {code: OpenApiResponse(ErrorSerializer, description=_MEANING[code]) for code in codes}
