from django.conf import settings
from django.utils.translation import gettext as _
from rest_framework import exceptions, permissions

EMAIL_NOT_VERIFIED = "email_not_verified"  # the 403's `code`: the pages' script tells it apart


class VerifiedEmailIfRequired(permissions.BasePermission):
    """With AI_REQUIRES_VERIFIED_EMAIL, only users whose address is verified: else 403
    `{error, code: "email_not_verified"}`, in the user's language."""

    def has_permission(self, request, view) -> bool:
        if not settings.AI_REQUIRES_VERIFIED_EMAIL:
            return True
        if request.user and request.user.is_authenticated and request.user.is_verified:
            return True
        message = _(
            "Verify your e-mail address first: open the link we sent you, or ask for a new one."
        )
        raise exceptions.PermissionDenied({"error": message, "code": EMAIL_NOT_VERIFIED})
