from django.urls import path

from subscriptions import api, views

app_name = "subscriptions"

urlpatterns = [
    path("api/plans", api.PlanListView.as_view(), name="plans"),
    # pages
    path("plans/", views.plans, name="plans-page"),
]
