from django.contrib.auth import views as auth_views
from django.urls import path

from accounts import api, views

app_name = "accounts"

urlpatterns = [
    path("api/auth/register", api.RegisterView.as_view(), name="register"),
    path("api/auth/login", api.LoginView.as_view(), name="login"),
    path("api/auth/refresh", api.RefreshView.as_view(), name="refresh"),
    path("api/auth/me", api.MeView.as_view(), name="me"),
    path("api/auth/me/export", api.ExportView.as_view(), name="export"),
    path("api/auth/password", api.PasswordChangeView.as_view(), name="password-change"),
    path("api/auth/password-reset", api.PasswordResetRequestView.as_view(), name="password-reset"),
    path(
        "api/auth/password-reset/confirm",
        api.PasswordResetConfirmView.as_view(),
        name="password-reset-confirm-api",
    ),
    path("api/auth/verify-email", api.VerifyEmailView.as_view(), name="verify-email-api"),
    path(
        "api/auth/verify-email/resend",
        api.ResendVerificationView.as_view(),
        name="verify-email-resend-api",
    ),
    # pages
    path("register/", views.register, name="register-page"),
    path("login/", views.LoginView.as_view(), name="login-page"),
    # POST only (Django's LogoutView): a link or an image must not sign anybody out.
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("password-reset/", views.PasswordResetView.as_view(), name="password-reset-page"),
    path(
        "password-reset/sent/",
        views.PasswordResetDoneView.as_view(),
        name="password-reset-done",
    ),
    path(
        "reset/<uidb64>/<token>/",
        views.PasswordResetConfirmView.as_view(),
        name="password-reset-confirm",
    ),
    path(
        "reset/done/",
        views.PasswordResetCompleteView.as_view(),
        name="password-reset-complete",
    ),
    path("verify-email/resend/", views.resend_verification, name="verify-email-resend"),
    path("verify-email/<str:token>/", views.verify_email, name="verify-email"),
    path("account/", views.account, name="account"),
    path("account/export/", views.account_export, name="account-export"),
    path("account/delete/", views.account_delete, name="account-delete"),
]
