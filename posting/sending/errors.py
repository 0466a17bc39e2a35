"""The one error of the sending room's services: the action did not happen, and why."""

from __future__ import annotations


class PostActionError(Exception):
    """A post action did not happen; ``message`` is a translated sentence for the person who
    tried."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
