from django.urls import path

from payments import api, views, webhooks

app_name = "payments"

urlpatterns = [
    path("api/auth/upgrade-plan", api.UpgradePlanView.as_view(), name="upgrade-plan"),
    path("api/subscription", api.SubscriptionView.as_view(), name="subscription"),
    path("api/payments", api.PaymentListView.as_view(), name="list"),
    path("api/payments/<int:pk>", api.PaymentDetailView.as_view(), name="detail"),
    path("api/admin/payments/<int:pk>/approve", api.ApprovePaymentView.as_view(), name="approve"),
    path("api/admin/payments/<int:pk>/reject", api.RejectPaymentView.as_view(), name="reject"),
    # Stripe and PayPal
    path(
        "api/payments/stripe/webhook",
        webhooks.StripeWebhookView.as_view(),
        name="stripe-webhook",
    ),
    path(
        "api/payments/paypal/webhook",
        webhooks.PayPalWebhookView.as_view(),
        name="paypal-webhook",
    ),
    path("payments/paypal/return", webhooks.paypal_return, name="paypal-return"),
    path("payments/paypal/cancel", webhooks.paypal_cancel, name="paypal-cancel"),
    # pages
    path("plans/<slug:slug>/upgrade/", views.upgrade, name="upgrade"),
    path("payments/", views.payment_list, name="list-page"),
    path("payments/<int:pk>/", views.payment_detail, name="detail-page"),
    path("payments/<int:pk>/cancelled/", views.payment_cancelled, name="cancelled"),
    path("payments/<int:pk>/cancel/", views.cancel_payment, name="cancel"),
    path("payments/<int:pk>/receipt/", views.receipt, name="receipt"),
    path("subscription/", views.subscription, name="subscription-page"),
]
