from django.contrib.auth.backends import BaseBackend

from accounts.models import User


class EmailOrUsernameBackend(BaseBackend):
    """Log in with either the e-mail address or the username."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        try:
            user = User.objects.get_by_login(username)
        except User.DoesNotExist:
            User().set_password(password)  # same work as a real check: no timing oracle
            return None
        if user.check_password(password) and user.is_active:
            return user
        return None

    def get_user(self, user_id):
        user = User.objects.filter(pk=user_id).first()
        return user if user and user.is_active else None
