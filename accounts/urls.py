from django.urls import path

from accounts import api

app_name = "accounts"

urlpatterns = [
    path("api/auth/register", api.RegisterView.as_view(), name="register"),
    path("api/auth/login", api.LoginView.as_view(), name="login"),
    path("api/auth/refresh", api.RefreshView.as_view(), name="refresh"),
    path("api/auth/me", api.MeView.as_view(), name="me"),
]
