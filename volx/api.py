"""Project-wide API conventions: every error answer carries an `error` string."""

from rest_framework import exceptions, permissions, serializers
from rest_framework.views import exception_handler as drf_exception_handler


class ErrorSerializer(serializers.Serializer):
    """The shape of every error answer (400s add DRF's field errors)."""

    error = serializers.CharField()


def exception_handler(exc, context):
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    data = response.data
    if isinstance(exc, exceptions.ValidationError):
        fields = data if isinstance(data, dict) else {"non_field_errors": data}
        response.data = {"error": _first_message(fields), **fields}
    elif isinstance(data, dict) and "detail" in data:
        response.data = {
            "error": str(data["detail"]),
            **{k: v for k, v in data.items() if k != "detail"},
        }
    return response


def _first_message(fields: dict) -> str:
    for field, messages in fields.items():
        message = messages[0] if isinstance(messages, list) and messages else messages
        if isinstance(message, dict):
            return _first_message(message)
        return str(message) if field == "non_field_errors" else f"{field}: {message}"
    return "Invalid input."


class IsAdmin(permissions.BasePermission):
    """Users with role 'admin' (the same users who may enter the admin site)."""

    def has_permission(self, request, view):
        return bool(request.user and request.user.is_authenticated and request.user.is_admin)
