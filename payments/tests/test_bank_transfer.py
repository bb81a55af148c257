"""Bank transfers: upgrade-plan starts a pending payment; an admin approval grants once."""

import pytest

from accounts.models import User
from accounts.tests.factories import UserFactory
from payments.models import NotApprovedByHand, Payment
from payments.tests.factories import PaymentFactory
from subscriptions.models import UserSubscription
from tokens.models import LedgerEntry
from tokens.wallet import Wallet

pytestmark = pytest.mark.django_db
UPGRADE = "/api/auth/upgrade-plan"


def numbers(user) -> tuple[int, int, str]:
    user = User.objects.select_related("subscription").get(pk=user.pk)
    return user.tokens_remaining, user.subscription.tokens_limit, user.subscription.plan_type


class TestUpgradePlan:
    def test_creates_a_pending_payment_with_reference_and_bank_details(
        self, user, client_for, bank_configured
    ):
        response = client_for(user).post(
            UPGRADE,
            {"plan": "professional", "billing_cycle": "monthly", "payment_method": "bank_transfer"},
            format="json",
        )

        assert response.status_code == 201
        body = response.json()
        payment = body["payment"]
        assert payment["status"] == "pending"
        assert (payment["from_plan"], payment["to_plan"]) == ("free", "professional")
        assert (payment["amount"], payment["currency"]) == ("50.00", "USD")
        assert payment["reference_code"].startswith("VOLX-")
        assert body["bank_transfer"]["account_number"] == "0123456789"
        assert body["bank_transfer"]["reference_code"] == payment["reference_code"]
        assert body["checkout_url"] is None

    def test_never_grants(self, user, client_for, bank_configured):
        Wallet(user).debit(300)
        for plan, cycle in (("enterprise", "annual"), ("business", "monthly")):
            client_for(user).post(
                UPGRADE,
                {"plan": plan, "billing_cycle": cycle, "payment_method": "bank_transfer"},
                format="json",
            )
        assert numbers(user) == (9_700, 10_000, "free")
        assert Payment.objects.filter(user=user, status="pending").count() == 2
        assert Payment.objects.get(billing_cycle="annual").amount == 1290

    def test_switching_from_a_running_paid_plan_says_what_ends(
        self, user, client_for, bank_configured
    ):
        PaymentFactory(user=user, billing_cycle="annual").confirm()
        body = {"plan": "business", "billing_cycle": "monthly", "payment_method": "bank_transfer"}

        answer = client_for(user).post(UPGRADE, body, format="json").json()

        ends = answer["ends_running_plan"]
        assert (ends["plan_type"], ends["unused_days"]) == ("professional", 364)
        expires_at = UserSubscription.objects.get(user=user).expires_at
        assert ends["expires_at"] == expires_at.isoformat().replace("+00:00", "Z")

    def test_renewing_the_running_plan_ends_nothing(self, user, client_for, bank_configured):
        PaymentFactory(user=user).confirm()
        body = {
            "plan": "professional",
            "billing_cycle": "monthly",
            "payment_method": "bank_transfer",
        }

        assert (
            client_for(user).post(UPGRADE, body, format="json").json()["ends_running_plan"] is None
        )

    def test_a_second_payment_for_a_pending_plan_is_409_naming_the_first(
        self, user, client_for, bank_configured
    ):
        api = client_for(user)
        body = {
            "plan": "professional",
            "billing_cycle": "monthly",
            "payment_method": "bank_transfer",
        }
        first = api.post(UPGRADE, body, format="json").json()["payment"]

        again = api.post(UPGRADE, body, format="json")
        by_card = api.post(UPGRADE, {**body, "billing_cycle": "annual"}, format="json")

        assert again.status_code == by_card.status_code == 409
        answer = again.json()
        assert first["reference_code"] in answer["error"]
        assert "already pending" in answer["error"]
        assert answer["pending_payment"]["id"] == first["id"]
        assert answer["bank_transfer"]["reference_code"] == first["reference_code"]
        assert Payment.objects.filter(user=user).count() == 1

    def test_another_plan_or_a_decided_payment_does_not_block(
        self, user, client_for, bank_configured, admin_user
    ):
        api = client_for(user)
        body = {
            "plan": "professional",
            "billing_cycle": "monthly",
            "payment_method": "bank_transfer",
        }
        first = api.post(UPGRADE, body, format="json").json()["payment"]
        assert api.post(UPGRADE, {**body, "plan": "grow"}, format="json").status_code == 201

        Payment.objects.get(pk=first["id"]).reject(by=admin_user, reason="no money came")

        assert api.post(UPGRADE, body, format="json").status_code == 201

    @pytest.mark.parametrize(
        "body",
        [
            {"plan": "free", "billing_cycle": "monthly", "payment_method": "bank_transfer"},
            {"plan": "nope", "billing_cycle": "monthly", "payment_method": "bank_transfer"},
            {"plan": "grow", "billing_cycle": "weekly", "payment_method": "bank_transfer"},
            {"plan": "grow", "billing_cycle": "monthly", "payment_method": "cash"},
            {"plan": "grow", "billing_cycle": "monthly"},
        ],
    )
    def test_bad_input_is_400_and_creates_nothing(self, user, client_for, bank_configured, body):
        response = client_for(user).post(UPGRADE, body, format="json")
        assert response.status_code == 400
        assert response.json()["error"]
        assert not Payment.objects.exists()

    def test_unconfigured_method_is_503_naming_the_settings(self, user, client_for):
        response = client_for(user).post(
            UPGRADE,
            {"plan": "grow", "billing_cycle": "monthly", "payment_method": "bank_transfer"},
            format="json",
        )
        assert response.status_code == 503
        assert "BANK_TRANSFER_ACCOUNT_NUMBER" in response.json()["error"]
        assert not Payment.objects.exists()


class TestPaymentsApi:
    def test_own_payments_only(self, user, client_for):
        mine = PaymentFactory(user=user)
        theirs = PaymentFactory()

        listed = client_for(user).get("/api/payments").json()

        assert [p["id"] for p in listed["results"]] == [mine.pk]
        assert client_for(user).get(f"/api/payments/{mine.pk}").status_code == 200
        assert client_for(user).get(f"/api/payments/{theirs.pk}").status_code == 404


class TestAdminApprove:
    def url(self, payment, verb="approve"):
        return f"/api/admin/payments/{payment.pk}/{verb}"

    def test_approval_gives_the_seed_numbers(self, admin_user, client_for):
        payment = PaymentFactory()

        response = client_for(admin_user).post(self.url(payment))

        assert response.status_code == 200
        body = response.json()
        assert body["payment"]["status"] == "approved"
        assert body["user"]["tokens_remaining"] == 2_010_000
        assert body["user"]["subscription"]["tokens_limit"] == 2_010_000
        assert body["user"]["subscription"]["plan_type"] == "professional"
        assert numbers(payment.user) == (2_010_000, 2_010_000, "professional")
        payment.refresh_from_db()
        assert (payment.decided_by, payment.granted_tokens) == (admin_user, 2_000_000)
        sub = payment.user.subscription
        assert (sub.payment_method, sub.payment_id) == ("bank_transfer", str(payment.pk))
        assert sub.expires_at is not None
        grant = LedgerEntry.objects.get(user=payment.user, idempotency_key=f"payment:{payment.pk}")
        assert (grant.delta, grant.balance_after, grant.actor) == (2_000_000, 2_010_000, admin_user)

    def test_approval_after_a_debit(self, admin_user, client_for):
        payment = PaymentFactory()
        Wallet(payment.user).debit(300)
        client_for(admin_user).post(self.url(payment))
        assert numbers(payment.user) == (2_009_700, 2_009_700, "professional")

    def test_second_approval_is_409_and_grants_nothing_more(
        self, admin_user, client_for, ledger_sum
    ):
        payment = PaymentFactory()
        client_for(admin_user).post(self.url(payment))

        again = client_for(admin_user).post(self.url(payment))

        assert again.status_code == 409
        assert again.json()["status"] == "approved"
        assert numbers(payment.user) == (2_010_000, 2_010_000, "professional")
        assert ledger_sum(payment.user) == 2_010_000

    def test_non_admin_is_403(self, user, client_for):
        payment = PaymentFactory(user=user)
        assert client_for(user).post(self.url(payment)).status_code == 403
        assert (
            client_for(user).post(self.url(payment, "reject"), {"reason": "x"}).status_code == 403
        )
        payment.refresh_from_db()
        assert payment.status == "pending"
        assert numbers(user) == (10_000, 10_000, "free")

    def test_reject_needs_a_reason_and_grants_nothing(self, admin_user, client_for):
        payment = PaymentFactory()
        assert client_for(admin_user).post(self.url(payment, "reject"), {}).status_code == 400

        response = client_for(admin_user).post(
            self.url(payment, "reject"), {"reason": "no money arrived"}, format="json"
        )

        assert response.status_code == 200
        payment.refresh_from_db()
        assert (payment.status, payment.reason, payment.decided_by) == (
            "rejected",
            "no money arrived",
            admin_user,
        )
        assert numbers(payment.user) == (10_000, 10_000, "free")
        assert client_for(admin_user).post(self.url(payment)).status_code == 409

    def test_provider_payments_are_not_approved_by_hand(self, admin_user, client_for):
        payment = PaymentFactory(method="stripe")
        response = client_for(admin_user).post(self.url(payment))
        assert response.status_code == 409
        assert "confirmed by the provider's verified notification" in response.json()["error"]
        assert numbers(payment.user) == (10_000, 10_000, "free")

    @pytest.mark.parametrize("method", ["stripe", "paypal"])
    def test_the_model_refuses_to_approve_a_provider_payment(self, admin_user, method):
        """The rule lives on Payment.approve(), so that no caller can skip it."""
        payment = PaymentFactory(method=method)
        with pytest.raises(NotApprovedByHand):
            payment.approve(by=admin_user)
        payment.refresh_from_db()
        assert (payment.status, payment.decided_by) == ("pending", None)
        assert numbers(payment.user) == (10_000, 10_000, "free")

    def test_unknown_payment_is_404(self, admin_user, client_for):
        assert client_for(admin_user).post("/api/admin/payments/99999/approve").status_code == 404


def test_renewing_the_same_plan_extends_the_running_period(admin_user, client_for):
    user = UserFactory()
    first = PaymentFactory(user=user)
    client_for(admin_user).post(f"/api/admin/payments/{first.pk}/approve")
    expires = User.objects.get(pk=user.pk).subscription.expires_at

    second = PaymentFactory(user=user)
    client_for(admin_user).post(f"/api/admin/payments/{second.pk}/approve")

    sub = User.objects.get(pk=user.pk).subscription
    assert (sub.expires_at - expires).days == 30
    assert numbers(user) == (4_010_000, 4_010_000, "professional")


class TestUpgradeIdempotency:
    BODY = {"plan": "grow", "billing_cycle": "monthly", "payment_method": "bank_transfer"}

    def test_same_key_replays_the_first_payment(self, user, client_for, bank_configured):
        client = client_for(user)
        first = client.post(UPGRADE, self.BODY, format="json", HTTP_IDEMPOTENCY_KEY="k1")
        again = client.post(UPGRADE, self.BODY, format="json", HTTP_IDEMPOTENCY_KEY="k1")

        assert first.status_code == again.status_code == 201
        assert first.json() == again.json()
        assert Payment.objects.filter(user=user).count() == 1

    def test_same_key_other_body_is_422(self, user, client_for, bank_configured):
        client = client_for(user)
        client.post(UPGRADE, self.BODY, format="json", HTTP_IDEMPOTENCY_KEY="k1")
        other = client.post(
            UPGRADE, {**self.BODY, "plan": "starter"}, format="json", HTTP_IDEMPOTENCY_KEY="k1"
        )
        assert other.status_code == 422
        assert Payment.objects.filter(user=user).count() == 1
