"""Errors the engine tells apart: worth retrying, or final."""

from __future__ import annotations


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
