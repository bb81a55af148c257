from django.urls import path

from subscriptions import api

app_name = "subscriptions"

urlpatterns = [
    path("api/plans", api.PlanListView.as_view(), name="plans"),
]
