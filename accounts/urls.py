from django.contrib.auth import views as auth_views
from django.urls import path

from accounts import api, views

app_name = "accounts"

urlpatterns = [
    path("api/auth/register", api.RegisterView.as_view(), name="register"),
    path("api/auth/login", api.LoginView.as_view(), name="login"),
    path("api/auth/refresh", api.RefreshView.as_view(), name="refresh"),
    path("api/auth/me", api.MeView.as_view(), name="me"),
    # pages
    path("register/", views.register, name="register-page"),
    path("login/", views.LoginView.as_view(), name="login-page"),
    # POST only (Django's LogoutView): a link or an image must not sign anybody out.
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
]
