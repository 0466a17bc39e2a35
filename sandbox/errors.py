"""The one error type the sandbox's services raise; views turn it into the error envelope."""

from __future__ import annotations


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def bad_request(code: str, message: str) -> ApiError:
    return ApiError(400, code, message)


def not_found(code: str, message: str) -> ApiError:
    return ApiError(404, code, message)


def invalid_key() -> ApiError:
    return ApiError(401, "INVALID_API_KEY", "The API key is missing, unknown or revoked.")
