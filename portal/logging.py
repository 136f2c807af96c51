"""Structured JSON logs with a request id on every line of a request.

Every log record (Django's, the apps', structlog's) goes out as one JSON object on stderr. The
request id comes from the caller's X-Request-ID (so a load balancer's id follows the request) or
is made here, is bound for the request's duration and is echoed in the response.
"""

from __future__ import annotations

import re
import time
import uuid

import structlog
from asgiref.sync import iscoroutinefunction, markcoroutinefunction

__all__ = ["RequestIdMiddleware", "configure", "logging_config"]

_VALID_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
_SHARED: list[structlog.typing.Processor] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]


def logging_config(level: str) -> dict:
    """Django LOGGING: stdlib records rendered as JSON by structlog."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "json": {
                "()": structlog.stdlib.ProcessorFormatter,
                "processors": [
                    structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.format_exc_info,
                    structlog.processors.JSONRenderer(),
                ],
                "foreign_pre_chain": _SHARED,
            },
        },
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "json"}},
        "root": {"handlers": ["console"], "level": level},
        "loggers": {"django.server": {"level": "WARNING"}},
    }


def configure() -> None:
    structlog.configure(
        processors=[
            *_SHARED,
            structlog.processors.format_exc_info,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )


class RequestIdMiddleware:
    """Bind a request id to the request's logs, log one line per request, echo the id back."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        self.log = structlog.get_logger("earshot.request")
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def _begin(self, request) -> float:
        incoming = request.headers.get("X-Request-ID", "")
        request.id = incoming if _VALID_ID.match(incoming) else uuid.uuid4().hex
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request.id)
        return time.perf_counter()

    def _end(self, request, response, started: float):
        response["X-Request-ID"] = request.id
        user = getattr(request, "user", None)
        self.log.info(
            "request", method=request.method, path=request.path, status=response.status_code,
            duration_ms=round((time.perf_counter() - started) * 1000, 1),
            user_id=user.pk if user is not None and user.is_authenticated else None,
        )  # fmt: skip
        return response

    def __call__(self, request):
        if iscoroutinefunction(self):
            return self.__acall__(request)
        started = self._begin(request)
        return self._end(request, self.get_response(request), started)

    async def __acall__(self, request):
        started = self._begin(request)
        return self._end(request, await self.get_response(request), started)
