"""Errors the engine tells apart: worth retrying, final, or a reply that cannot be read."""

from __future__ import annotations

from agents.engine.types import Usage


class ModelError(Exception):
    """A model call failed."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class TransientModelError(ModelError):
    """Rate limits, overload, 5xx, timeouts and dropped connections: retry later."""

    def __init__(
        self, message: str, status: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message, status)
        self.retry_after = retry_after


class PermanentModelError(ModelError):
    """A request the model API refuses as such (bad request, auth, not found)."""


class MalformedModelOutputError(ModelError):
    """A reply that came (and was paid for) but cannot be read, e.g. tool input that is not JSON.

    Not transient (the API is fine) and not permanent (asking again usually gets a
    readable reply): the caller decides. `usage` is what the reply cost, as far as
    the stream told before it broke.
    """

    def __init__(self, message: str, usage: Usage | None = None, partial: str = "") -> None:
        super().__init__(message)
        self.usage = usage or Usage()
        # What the model sent, whole: whoever stores it redacts secrets, then cuts it.
        self.partial = partial
