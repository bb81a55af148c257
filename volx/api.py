"""Project-wide API conventions: every error answer carries an `error` string, and the
parsers refuse what they cannot read as a 400 (volx/middleware.py answers the errors
that arise outside DRF)."""

from urllib.parse import parse_qsl

from django.conf import settings
from django.http import QueryDict
from rest_framework import exceptions, parsers, permissions, serializers
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


# --- parsers ------------------------------------------------------------------------
# The API's bodies are flat (an AI action's is one object of strings); 32 leaves room.
MAX_JSON_DEPTH = 32
TOO_DEEP = f"nested too deep (at most {MAX_JSON_DEPTH} levels)"


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, refusing what the code behind it cannot take: nesting past
    MAX_JSON_DEPTH (5,000 deep ended in RecursionError inside json, a 500) and strings
    with lone surrogates (`"\\ud800"` is valid JSON but no UTF-8 text: saving it was a
    UnicodeEncodeError, a 500)."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            data, problem = None, TOO_DEEP
        else:
            problem = document_problem(data)
        if problem is None:
            return data
        raise exceptions.ParseError(f"JSON parse error - {problem}.")


def document_problem(data) -> str | None:
    """What makes parsed JSON unusable, or None. Walked without recursion, so that the
    check cannot overflow the stack itself."""
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, str):
            try:
                value.encode()
            except UnicodeEncodeError:
                return "a string is not valid Unicode (a lone surrogate)"
            continue
        if isinstance(value, dict):
            stack.extend((key, depth) for key in value)
            value = value.values()
        elif not isinstance(value, list):
            continue
        if depth > MAX_JSON_DEPTH:
            return TOO_DEEP
        stack.extend((item, depth + 1) for item in value)
    return None


class FormParser(parsers.FormParser):
    """Form bodies decoded strictly: Django's QueryDict turns bytes that are not valid in
    the charset, `text=%FF%FE` too, into U+FFFD and goes on, so garbage became text that
    an AI action was charged for."""

    def parse(self, stream, media_type=None, parser_context=None):
        encoding = parsers.get_encoding(parser_context or {})
        try:
            pairs = parse_qsl(
                stream.read().decode(encoding),
                keep_blank_values=True,
                encoding=encoding,
                errors="strict",
                max_num_fields=settings.DATA_UPLOAD_MAX_NUMBER_FIELDS,
            )
        except UnicodeDecodeError as error:
            raise exceptions.ParseError(f"Form parse error - not valid {encoding}.") from error
        except ValueError as error:  # more fields than DATA_UPLOAD_MAX_NUMBER_FIELDS
            raise exceptions.ParseError(f"Form parse error - {error}.") from error
        data = QueryDict(mutable=True, encoding=encoding)
        for key, value in pairs:
            data.appendlist(key, value)
        data._mutable = False
        return data


class MultiPartParser(parsers.MultiPartParser):
    """Multipart bodies whose fields are not valid in their charset are refused. Django's
    parser has already replaced such bytes with U+FFFD when we see the fields, so a field
    holding U+FFFD is refused (a client's own U+FFFD is no text worth keeping either)."""

    def parse(self, stream, media_type=None, parser_context=None):
        parsed = super().parse(stream, media_type, parser_context)
        for key, values in parsed.data.lists():
            if REPLACEMENT_CHARACTER in key or any(REPLACEMENT_CHARACTER in v for v in values):
                raise exceptions.ParseError("Multipart form parse error - not valid text.")
        return parsed


REPLACEMENT_CHARACTER = "\ufffd"
