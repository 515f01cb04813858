from typing import Any

from django.http import JsonResponse


def error_response(
    status: int, code: str, message: str, details: dict[str, Any] | None = None
) -> JsonResponse:
    """The API's one error shape: {"error": <for a person>, "code": <for a program>, "details"}."""
    return JsonResponse({"error": message, "code": code, "details": details or {}}, status=status)
