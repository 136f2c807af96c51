"""SourceError: why a stream cannot be read, and whether trying again can help."""

from __future__ import annotations

from portal import outbound

__all__ = ["SourceError"]

# Outbound codes that reconnecting cannot fix.
_PERMANENT = {"bad_url", "private_address", "redirect_loop", "too_many_redirects", "too_large"}


class SourceError(Exception):
    """Why a source cannot be read, fit to show the monitor's owner.

    `code` is stable: `bad_url`, `private_address`, `dns`, `connect`, `tls`, `timeout`, `not_found`,
    `http_error`, `not_audio`, `redirect_loop`, `too_many_redirects`, `too_large`, `bad_playlist`,
    `unsupported`, `no_audio`, `ended`, `disconnected`, `decode_failed`, `closed`.
    `permanent`: True when trying again cannot help (the monitor fails), else reconnect with backoff.
    """

    def __init__(self, code: str, message: str, *, permanent: bool = False):
        super().__init__(message)
        self.code = code
        self.message = message
        self.permanent = permanent

    @classmethod
    def from_outbound(cls, error: outbound.OutboundError) -> SourceError:
        return cls(error.code, error.message, permanent=error.code in _PERMANENT)
