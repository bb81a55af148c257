"""Register, log in, log out: the session side of /api/auth/* (README, Pages)."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods

from accounts.api import RegisterView
from accounts.forms import LoginForm, RegisterForm
from tokens.templatetags.numbers import number
from tokens.wallet import Wallet
from volx.throttling import ScopedRateThrottle


class LoginView(auth_views.LoginView):
    """/login/: `username` (e-mail or username) and `password`."""

    template_name = "accounts/login.html"
    authentication_form = LoginForm
    redirect_authenticated_user = True


@sensitive_post_parameters("password")
@require_http_methods(["GET", "POST"])
def register(request: HttpRequest) -> HttpResponse:
    """/register/: the user, the free plan and 10,000 tokens in one transaction, then
    signed in and sent to the dashboard."""
    if request.user.is_authenticated:
        return redirect(settings.LOGIN_REDIRECT_URL)
    form = RegisterForm(request.POST or None)
    # The API's registration rate (THROTTLE_REGISTER, per client address), from the same
    # budget: the page must not be the way around it.
    if request.method == "POST" and not ScopedRateThrottle().allow_request(request, RegisterView):
        form.add_error(None, _("Too many sign-ups from your network. Please try again later."))
        return render(request, "accounts/register.html", {"form": form}, status=429)
    if request.method == "POST" and form.is_valid() and (user := form.save()):
        login(request, user, backend="accounts.backends.EmailOrUsernameBackend")
        tokens = number(Wallet(user).balance())
        messages.success(
            request, _("Welcome to Volx! You have %(tokens)s free tokens.") % {"tokens": tokens}
        )
        return redirect(settings.LOGIN_REDIRECT_URL)
    return render(request, "accounts/register.html", {"form": form})
