from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from accounts.views import set_language

urlpatterns = [
    # Signed in: the dashboard; anonymous: the dashboard sends them to the login page.
    path("", RedirectView.as_view(pattern_name="tokens:dashboard"), name="home"),
    path("admin/", admin.site.urls),
    # Django's set_language, which also stores a signed-in user's choice on the account.
    path("i18n/setlang/", set_language, name="set_language"),
    path("", include("accounts.urls")),
    path("", include("subscriptions.urls")),
    path("", include("tokens.urls")),
    path("", include("articles.urls")),
    path("", include("payments.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # A public page: no authentication, which an unreadable Authorization header would
    # fail while the page is rendered (a 500, past DRF's exception handling).
    path(
        "api/docs/",
        SpectacularSwaggerView.as_view(url_name="schema", authentication_classes=[]),
        name="docs",
    ),
]

handler500 = "volx.views.server_error"  # a database that is unavailable: 503
