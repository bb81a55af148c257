"""Register, log in, log out, reset the password, verify the address, the account page:
the session side of /api/auth/* (README, Pages and Accounts)."""

import json

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login, logout, update_session_auth_hash
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse, reverse_lazy
from django.utils import translation
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views import i18n
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST

from accounts import api, export, flows
from accounts.api import RegisterView
from accounts.forms import (
    DeleteAccountForm,
    EmailChangeForm,
    LoginForm,
    PasswordChangeForm,
    PasswordResetForm,
    PreferencesForm,
    ProfileForm,
    RegisterForm,
)
from accounts.models import User, supported_language
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


# --- password reset (Django's views, Volx's form and templates) ----------------------


class PasswordResetView(auth_views.PasswordResetView):
    """/password-reset/: the same "check your inbox" page whether or not the address has
    an account, throttled per client address from the API's budget."""

    template_name = "accounts/password_reset.html"
    form_class = PasswordResetForm
    success_url = reverse_lazy("accounts:password-reset-done")

    def post(self, request, *args, **kwargs):
        if not ScopedRateThrottle().allow_request(request, api.PasswordResetRequestView):
            form = self.get_form()
            form.add_error(None, _("Too many requests from your network. Please try again later."))
            return self.render_to_response(self.get_context_data(form=form), status=429)
        return super().post(request, *args, **kwargs)


class PasswordResetDoneView(auth_views.PasswordResetDoneView):
    template_name = "accounts/password_reset_done.html"

    def get_context_data(self, **kwargs):
        return {
            **super().get_context_data(**kwargs),
            "reset_minutes": settings.PASSWORD_RESET_TIMEOUT // 60,
        }


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    """/reset/<uidb64>/<token>/: Django's view (the token leaves the address bar for the
    session before the form shows). A new password ends every session and every JWT
    (the password hash changes: README, Accounts) and lifts the login lockout."""

    template_name = "accounts/password_reset_confirm.html"
    success_url = reverse_lazy("accounts:password-reset-complete")

    def form_valid(self, form):
        response = super().form_valid(form)
        flows.password_was_reset(form.user)
        return response


class PasswordResetCompleteView(auth_views.PasswordResetCompleteView):
    template_name = "accounts/password_reset_complete.html"


# --- e-mail verification -----------------------------------------------------------


@require_http_methods(["GET", "POST"])
def verify_email(request: HttpRequest, token: str) -> HttpResponse:
    """/verify-email/<token>/: a button that confirms. Not on GET: mail scanners open
    links, and this one may change the account's address."""
    if request.method == "GET":
        return render(request, "accounts/verify_email.html", {"token": token})
    user = User.verify_email(token)
    if user is None:
        return render(request, "accounts/verify_email.html", {"invalid": True}, status=400)
    messages.success(request, _("Thank you: %(email)s is verified.") % {"email": user.email})
    if request.user.is_authenticated and request.user.pk == user.pk:
        return redirect("accounts:account")
    return redirect(settings.LOGIN_URL)


@login_required
@require_POST
def resend_verification(request: HttpRequest) -> HttpResponse:
    """The banner's button: a new link, throttled per user from the API's budget."""
    user = request.user
    if not ScopedRateThrottle().allow_request(request, api.ResendVerificationView):
        messages.error(request, _("Too many e-mails asked for. Please try again later."))
    elif user.pending_email:
        flows.request_email_change(user, user.pending_email)
        messages.success(
            request, _("We sent a new link to %(email)s.") % {"email": user.pending_email}
        )
    elif not user.is_verified:
        flows.send_verification(user)
        messages.success(request, _("We sent a new link to %(email)s.") % {"email": user.email})
    return redirect(_next_page(request, reverse("accounts:account")))


def _next_page(request: HttpRequest, default: str) -> str:
    target = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        return target
    return default


# --- the account page ----------------------------------------------------------------

ACCOUNT_FORMS = {
    "profile": lambda request, data: ProfileForm(data, instance=request.user, prefix="profile"),
    "preferences": lambda request, data: PreferencesForm(
        data, instance=request.user, prefix="preferences"
    ),
    "email": lambda request, data: EmailChangeForm(data, user=request.user, prefix="email"),
    "password": lambda request, data: PasswordChangeForm(request.user, data, prefix="password"),
}


@login_required
@sensitive_post_parameters(
    "email-password", "password-old_password", "password-new_password1", "password-new_password2"
)
@require_http_methods(["GET", "POST"])
def account(request: HttpRequest) -> HttpResponse:
    """/account/: one page, a form per section; a POST names its section in `form`."""
    forms = {name: make(request, None) for name, make in ACCOUNT_FORMS.items()}
    section = request.POST.get("form") if request.method == "POST" else None
    if section in ACCOUNT_FORMS:
        form = forms[section] = ACCOUNT_FORMS[section](request, request.POST)
        if form.is_valid():
            _save_account_form(request, section, form)
            response = redirect(reverse("accounts:account") + f"#{section}")
            if section == "preferences":
                set_language_cookie(response, request.user.language)
            return response
    status = 400 if section in ACCOUNT_FORMS else 200
    return render(request, "accounts/account.html", {"forms": forms, **forms}, status=status)


def _save_account_form(request: HttpRequest, section: str, form) -> None:
    if section == "profile":
        form.save()
        messages.success(request, _("Your profile is saved."))
    elif section == "preferences":
        user = form.save()
        with translation.override(user.language):  # the next page is in this language
            messages.success(request, _("Your language and time zone are saved."))
    elif section == "email":
        flows.request_email_change(request.user, form.cleaned_data["email"])
        messages.success(
            request,
            _("Open the link we sent to %(email)s: the new address takes effect then.")
            % {"email": request.user.pending_email},
        )
    elif section == "password":
        form.save()
        # This session stays signed in; every other one, and every JWT, ends.
        update_session_auth_hash(request, form.user)
        messages.success(
            request, _("Your password is changed. You were signed out everywhere else.")
        )


@login_required
@require_http_methods(["GET"])
def account_export(request: HttpRequest) -> HttpResponse:
    """The data export as a file (the same JSON as GET /api/auth/me/export)."""
    body = json.dumps(
        export.export(request.user), cls=DjangoJSONEncoder, indent=2, ensure_ascii=False
    )
    response = HttpResponse(body, content_type="application/json; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="volx-account.json"'
    return response


@login_required
@sensitive_post_parameters("password")
@require_http_methods(["GET", "POST"])
def account_delete(request: HttpRequest) -> HttpResponse:
    """/account/delete/: asks for the password, then erases the account (User.erase)."""
    form = DeleteAccountForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        request.user.erase()
        logout(request)
        messages.success(request, _("Your account is deleted. Thank you for using Volx."))
        return redirect(settings.LOGIN_URL)
    status = 400 if request.method == "POST" else 200
    return render(request, "accounts/account_delete.html", {"form": form}, status=status)


def set_language_cookie(response: HttpResponse, language: str) -> None:
    """What Django's set_language sets: this browser's language, over the account's."""
    response.set_cookie(
        settings.LANGUAGE_COOKIE_NAME,
        language,
        max_age=settings.LANGUAGE_COOKIE_AGE,
        path=settings.LANGUAGE_COOKIE_PATH,
        domain=settings.LANGUAGE_COOKIE_DOMAIN,
        secure=settings.LANGUAGE_COOKIE_SECURE,
        httponly=settings.LANGUAGE_COOKIE_HTTPONLY,
        samesite=settings.LANGUAGE_COOKIE_SAMESITE,
    )


@require_POST
def set_language(request: HttpRequest) -> HttpResponse:
    """The header's language switcher (Django's set_language), which for a signed-in user
    also stores the choice on the account: their pages and e-mails follow it."""
    response = i18n.set_language(request)
    language = request.POST.get("language")
    if request.user.is_authenticated and language in dict(settings.LANGUAGES):
        User.objects.filter(pk=request.user.pk).update(language=supported_language(language))
    return response
