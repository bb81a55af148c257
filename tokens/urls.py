from django.urls import path

from tokens import api, views

app_name = "tokens"

urlpatterns = [
    path("api/tokens/balance", api.BalanceView.as_view(), name="balance"),
    path("api/tokens/history", api.HistoryView.as_view(), name="history"),
    path("api/admin/users/<int:user_id>/bonus", api.BonusView.as_view(), name="bonus"),
    path("api/admin/token-sync", api.TokenSyncView.as_view(), name="token-sync"),
    # pages
    path("dashboard/", views.dashboard, name="dashboard"),
    path("usage/", views.usage, name="usage"),
    path("usage/export.csv", views.usage_export, name="usage-export"),
]
