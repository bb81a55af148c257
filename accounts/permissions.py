from django.conf import settings
from rest_framework import permissions


class VerifiedEmailIfRequired(permissions.BasePermission):
    """With AI_REQUIRES_VERIFIED_EMAIL, only users whose address is verified (403)."""

    message = "Verify your e-mail address first: open the link we sent you, or ask for a new one."

    def has_permission(self, request, view) -> bool:
        if not settings.AI_REQUIRES_VERIFIED_EMAIL:
            return True
        return bool(request.user and request.user.is_authenticated and request.user.is_verified)
