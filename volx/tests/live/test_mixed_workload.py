"""Everything that moves tokens, at once, for a fixed time, against two app hosts.

16 clients run until the time is up (`LIVE_WORKLOAD_SECONDS`, default 15; set it higher
for a soak run); their requests alternate between two gunicorn servers (two app hosts)
sharing the database:

- 8 spenders: AI actions for 4 customers (2 clients per customer), 200 or 402. The first
  customer buys nothing and starts at 0 tokens: it lives near 0 on small bonuses, so its
  debits race the credits on its row and many are refused;
- 2 admins giving bonuses to the customers;
- 3 bank-transfer buyers: upgrade-plan, then 4 admins decide the payment at the same
  moment (every third time one of them rejects it): exactly one 200, the rest 409;
- 3 Stripe buyers: upgrade-plan (the server creates the session on a local fake Stripe),
  then signed `checkout.session.completed` webhooks, each event delivered 4 times at once;
  every third payment is then refunded (`charge.refunded`, delivered 3 times at once),
  and every third has its refund delivered together with its completion (either order
  may win; both must end refunded with no net grant).

Afterwards every answer the clients got must agree with the database: usage rows match
the 200 answers, each bonus is one ledger entry, each payment granted at most once and
reversed at most once, each webhook event processed once, balance == ledger sum for
everyone, and `token_sync_report` finds no drift.
"""

import itertools
import json
import os
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from functools import partial
from io import StringIO

import pytest
import requests
from django.core.management import call_command
from django.db.models import Count, Sum
from rest_framework_simplejwt.tokens import RefreshToken

from accounts.models import User
from accounts.tests.factories import AdminFactory, UserFactory
from articles.tests.factories import ARTICLE_TEXT
from payments.gateways.stripe import minor_units
from payments.models import Payment, WebhookEvent
from payments.tests.fakes import FakeStripe
from payments.tests.test_stripe import SECRET, event, sign
from subscriptions.models import Plan
from tokens.models import LedgerEntry, TokenHold, TokenUsage
from tokens.wallet import Wallet

SECONDS = float(os.environ.get("LIVE_WORKLOAD_SECONDS", "15"))
TIMEOUT = 120  # seconds per request: the machine is shared, slow is not wrong
CUSTOMERS = 4
SPENDERS_PER_CUSTOMER = 2
BONUS_ADMINS = 2
BANK_BUYERS = 3
STRIPE_BUYERS = 3
DECIDING_ADMINS = 4  # concurrent approvals of one bank transfer
DELIVERIES = 4  # concurrent deliveries of one Stripe event
REFUND_DELIVERIES = 3
PLAN = "starter"
AI_ACTIONS = ["generate-seo-title", "generate-meta-description", "rewrite", "find-image"]

STRIPE_ENV = {
    "STRIPE_SECRET_KEY": "sk_test_volx",
    "STRIPE_WEBHOOK_SECRET": SECRET,
    "SITE_URL": "https://volx.example",
    "BANK_TRANSFER_BANK_NAME": "Volx Test Bank",
    "BANK_TRANSFER_ACCOUNT_NAME": "Volx Ltd",
    "BANK_TRANSFER_ACCOUNT_NUMBER": "0123456789",
    "TOKENS_ON_PLAN_CHANGE": "add",
}


def bearer(user) -> dict[str, str]:
    return {"Authorization": f"Bearer {RefreshToken.for_user(user).access_token}"}


def at_once(calls: list[Callable[[], object]]) -> list:
    """Run the calls in parallel threads released together; their results in order."""
    start = threading.Barrier(len(calls))

    def run(call):
        start.wait()
        return call()

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


class Workload:
    """The clients, and everything they were told, for checking against the database."""

    def __init__(self, hosts: list[str], customers: list, admins: list, stripe: FakeStripe):
        self.hosts = itertools.cycle(hosts)
        self.host_lock = threading.Lock()
        self.customers = customers
        self.buyers = customers[1:]  # the first one lives near 0 on bonuses alone
        self.customer_auth = {c.pk: bearer(c) for c in customers}
        self.admin_auth = [bearer(a) for a in admins]
        self.stripe = stripe
        self.deadline = time.monotonic() + SECONDS
        self.requests = 0
        self.unexpected: list[tuple] = []
        # Filled by many threads: list.append is atomic, so every list exists beforehand.
        self.ai_answers: dict[int, list[tuple[str, int]]] = {c.pk: [] for c in customers}
        self.ai_statuses: list[int] = []
        self.bonuses: dict[int, list[int]] = {c.pk: [] for c in customers}
        self.bank_decisions: dict[int, list[tuple[str, int]]] = {}
        self.stripe_payments: dict[int, str] = {}  # payment id → "completed" | "refunded" | "race"
        self.webhook_answers: dict[str, list[tuple[int, str]]] = {}

    # --- HTTP ----------------------------------------------------------------

    def post(self, path: str, headers: dict, expected: set[int], **kwargs) -> requests.Response:
        with self.host_lock:
            host = next(self.hosts)
            self.requests += 1
        response = requests.post(f"{host}{path}", headers=headers, timeout=TIMEOUT, **kwargs)
        if response.status_code not in expected:
            self.unexpected.append((path, response.status_code, response.text[:300]))
        return response

    def running(self) -> bool:
        return time.monotonic() < self.deadline

    # --- clients ---------------------------------------------------------------

    def spender(self, customer) -> None:
        rng = random.Random(customer.pk)
        while self.running():
            action = rng.choice(AI_ACTIONS)
            answer = self.post(
                f"/api/ai/{action}",
                self.customer_auth[customer.pk],
                {200, 402},
                json={"text": ARTICLE_TEXT},
            )
            self.ai_statuses.append(answer.status_code)
            if answer.status_code == 200:
                body = answer.json()
                self.ai_answers[customer.pk].append((body["action"], body["tokens_used"]))

    def bonus_giver(self, admin_auth: dict, seed: int) -> None:
        rng = random.Random(seed)
        while self.running():
            customer = rng.choice(self.customers)
            tokens = rng.randint(1, 1_000)  # less than the spenders take: 402s
            answer = self.post(
                f"/api/admin/users/{customer.pk}/bonus",
                admin_auth,
                {200},
                json={"tokens": tokens, "reason": "live workload"},
            )
            if answer.status_code == 200:
                self.bonuses[customer.pk].append(tokens)

    def upgrade(self, customer, method: str) -> dict | None:
        # 409: the other kind of buyer has a payment of this customer for PLAN still
        # pending, and there is one pending payment per plan: this turn buys nothing.
        answer = self.post(
            "/api/auth/upgrade-plan",
            self.customer_auth[customer.pk],
            {201, 409},
            json={"plan": PLAN, "billing_cycle": "monthly", "payment_method": method},
        )
        return answer.json() if answer.status_code == 201 else None

    def bank_buyer(self, seed: int) -> None:
        rng = random.Random(seed)
        for turn in itertools.count():
            if not self.running():
                return
            started = self.upgrade(rng.choice(self.buyers), "bank_transfer")
            if started is None:
                continue
            payment_id = started["payment"]["id"]
            decisions = ["approve"] * DECIDING_ADMINS
            if turn % 3 == 2:
                decisions[rng.randrange(DECIDING_ADMINS)] = "reject"

            self.bank_decisions[payment_id] = at_once(
                [
                    partial(self.decide, payment_id, d, a)
                    for d, a in zip(decisions, self.admin_auth, strict=True)
                ]
            )

    def decide(self, payment_id: int, decision: str, admin_auth: dict) -> tuple[str, int]:
        body = {"reason": "no transfer arrived"} if decision == "reject" else None
        answer = self.post(
            f"/api/admin/payments/{payment_id}/{decision}", admin_auth, {200, 409}, json=body
        )
        return decision, answer.status_code

    def stripe_buyer(self, seed: int) -> None:
        rng = random.Random(seed)
        for turn in itertools.count():
            if not self.running():
                return
            started = self.upgrade(rng.choice(self.buyers), "stripe")
            if started is None:
                continue
            payment = started["payment"]
            session_id = started["checkout_url"].rsplit("/", 1)[-1]
            completed = event("checkout.session.completed", self.paid_session(payment, session_id))
            refunded = event("charge.refunded", refunded_charge(payment))
            kind = ["completed", "refunded", "race"][turn % 3]
            self.stripe_payments[payment["id"]] = kind
            if kind == "race":
                self.deliver_at_once([completed] * DELIVERIES + [refunded] * REFUND_DELIVERIES)
            else:
                self.deliver_at_once([completed] * DELIVERIES)
                if kind == "refunded":
                    self.deliver_at_once([refunded] * REFUND_DELIVERIES)

    # --- Stripe ----------------------------------------------------------------

    def paid_session(self, payment: dict, session_id: str) -> dict:
        """The completed Checkout Session as Stripe reports it: what the fake was asked for."""
        created = self.stripe.sessions[session_id]
        return {
            "id": session_id,
            "object": "checkout.session",
            "mode": "payment",
            "client_reference_id": created["client_reference_id"],
            "metadata": {"payment_id": str(payment["id"])},
            "amount_total": int(created["line_items[0][price_data][unit_amount]"]),
            "currency": created["line_items[0][price_data][currency]"],
            "payment_status": "paid",
            "status": "complete",
            "payment_intent": payment_intent(payment),
            "subscription": None,
        }

    def deliver_at_once(self, payloads: list[str]) -> None:
        for payload in payloads:
            self.webhook_answers.setdefault(json.loads(payload)["id"], [])

        def deliver(payload: str):
            # Each delivery signed on its own, as Stripe does for each attempt.
            answer = self.post(
                "/api/payments/stripe/webhook",
                {"Stripe-Signature": sign(payload), "Content-Type": "application/json"},
                {200},
                data=payload,
            )
            status = answer.json().get("status") if answer.status_code == 200 else None
            self.webhook_answers[json.loads(payload)["id"]].append((answer.status_code, status))

        at_once([partial(deliver, p) for p in payloads])


def payment_intent(payment: dict) -> str:
    return f"pi_live_{payment['id']}"


def refunded_charge(payment: dict) -> dict:
    amount = minor_units(Decimal(payment["amount"]), payment["currency"])
    return {
        "id": f"ch_live_{payment['id']}",
        "object": "charge",
        "amount": amount,
        "amount_refunded": amount,
        "refunded": True,
        "currency": payment["currency"].lower(),
        "payment_intent": payment_intent(payment),
        "metadata": {"payment_id": str(payment["id"])},
    }


@pytest.fixture
def fake_stripe_api():
    server = FakeStripe().start()
    yield server
    server.stop()


def ledger(**filters) -> list[tuple[str, int]]:
    return list(LedgerEntry.objects.filter(**filters).values_list("idempotency_key", "delta"))


def assert_database_agrees(load: Workload, opening: dict[int, int], plan_tokens: int) -> None:
    """Everything the clients were told, against the database: the answers charged and
    granted exactly once, and each customer's balance from `opening` on."""
    customers = load.customers
    # Every AI action answered 200 is one usage row with the answered cost, and no more.
    for customer in customers:
        usage = TokenUsage.objects.filter(user=customer).values_list("action", "tokens_used")
        assert sorted(usage) == sorted(load.ai_answers[customer.pk])
    assert not TokenHold.objects.filter(status=TokenHold.Status.HELD).exists()

    # Every bonus answered 200 is one bonus entry.
    for customer in customers:
        bonuses = ledger(user=customer, kind=LedgerEntry.Kind.BONUS)
        assert sorted(delta for _, delta in bonuses) == sorted(load.bonuses[customer.pk])

    # A bank transfer decided by several admins at once: one decision wins, once.
    for payment_id, decisions in load.bank_decisions.items():
        payment = Payment.objects.get(pk=payment_id)
        assert sorted(status for _, status in decisions) == [200] + [409] * (DECIDING_ADMINS - 1)
        (winner,) = [decision for decision, status in decisions if status == 200]
        if winner == "approve":
            assert (payment.status, payment.granted_tokens) == ("approved", plan_tokens)
            assert ledger(idempotency_key=f"payment:{payment_id}") == [
                (f"payment:{payment_id}", plan_tokens)
            ]
        else:
            assert (payment.status, payment.granted_tokens) == ("rejected", 0)
            assert ledger(idempotency_key=f"payment:{payment_id}") == []

    # Each Stripe event stored once, processed once, answered "processed" once.
    assert WebhookEvent.objects.count() == len(load.webhook_answers)
    for event_id, answers in load.webhook_answers.items():
        stored = WebhookEvent.objects.get(provider="stripe", event_id=event_id)
        assert (stored.processed_at is not None, stored.error) == (True, "")
        assert sorted(answers) == [(200, "duplicate")] * (len(answers) - 1) + [(200, "processed")]

    # Each Stripe payment granted at most once and reversed at most once.
    for payment_id, kind in load.stripe_payments.items():
        payment = Payment.objects.get(pk=payment_id)
        grants = ledger(idempotency_key=f"payment:{payment_id}")
        refunds = LedgerEntry.objects.filter(idempotency_key=f"refund:{payment_id}")
        if kind == "completed":
            assert (payment.status, payment.granted_tokens) == ("approved", plan_tokens)
            assert (grants, refunds.count()) == ([(f"payment:{payment_id}", plan_tokens)], 0)
            continue
        assert payment.status == "refunded"
        if kind == "race" and not grants:  # the refund came first: nothing to reverse
            assert (payment.granted_tokens, refunds.count()) == (0, 0)
            continue
        assert grants == [(f"payment:{payment_id}", plan_tokens)]
        (refund,) = refunds
        # The whole grant is taken back, or the whole balance when less was left
        # (docs/rules.md, Refund).
        assert refund.delta == -plan_tokens or refund.balance_after == 0

    # No idempotency key was applied twice, for anyone.
    doubled = (
        LedgerEntry.objects.exclude(idempotency_key=None)
        .values("user_id", "idempotency_key")
        .annotate(entries=Count("id"))
        .filter(entries__gt=1)
    )
    assert list(doubled) == []

    # What each customer's balance must be, from what the clients were told.
    granted = Payment.objects.exclude(granted_tokens=0).aggregate(s=Sum("granted_tokens"))["s"]
    assert (
        LedgerEntry.objects.filter(
            kind=LedgerEntry.Kind.GRANT, idempotency_key__startswith="payment:"
        ).aggregate(s=Sum("delta"))["s"]
        == granted
    )
    for customer in customers:
        paid = Payment.objects.filter(user=customer).aggregate(s=Sum("granted_tokens"))["s"] or 0
        reversed_ = LedgerEntry.objects.filter(user=customer, kind=LedgerEntry.Kind.REFUND)
        expected = (
            opening[customer.pk]
            + sum(load.bonuses[customer.pk])
            + paid
            + (reversed_.aggregate(s=Sum("delta"))["s"] or 0)
            - sum(cost for _, cost in load.ai_answers[customer.pk])
        )
        customer.refresh_from_db()
        assert customer.tokens_remaining == expected


@pytest.mark.locks
@pytest.mark.django_db(transaction=True)
def test_mixed_workload_keeps_every_wallet_exact(gunicorn_server, fake_stripe_api):
    environment = {**STRIPE_ENV, "STRIPE_API_BASE": fake_stripe_api.url}
    hosts = [gunicorn_server(**environment), gunicorn_server(**environment)]
    customers = UserFactory.create_batch(CUSTOMERS)
    Wallet(customers[0]).debit(10_000, note="start the workload at 0")
    opening = {customer.pk: Wallet(customer).balance() for customer in customers}
    admins = AdminFactory.create_batch(DECIDING_ADMINS)
    plan_tokens = Plan.objects.get(slug=PLAN).tokens
    load = Workload([host.url for host in hosts], customers, admins, fake_stripe_api)

    clients = [
        *(partial(load.spender, c) for c in customers * SPENDERS_PER_CUSTOMER),
        *(partial(load.bonus_giver, load.admin_auth[i], seed=i) for i in range(BONUS_ADMINS)),
        *(partial(load.bank_buyer, seed=100 + i) for i in range(BANK_BUYERS)),
        *(partial(load.stripe_buyer, seed=200 + i) for i in range(STRIPE_BUYERS)),
    ]
    started = time.monotonic()
    with ThreadPoolExecutor(len(clients)) as pool:
        for future in [pool.submit(client) for client in clients]:
            future.result()
    elapsed = time.monotonic() - started
    ai_statuses = Counter(load.ai_statuses)
    print(
        f"{load.requests} requests in {elapsed:.1f}s ({load.requests / elapsed:.0f}/s): "
        f"AI {dict(ai_statuses)}, {sum(map(len, load.bonuses.values()))} bonuses, "
        f"{len(load.bank_decisions)} bank transfers, {len(load.stripe_payments)} Stripe payments"
    )

    assert load.unexpected == []
    # Enough of each kind happened for the checks below to mean something.
    assert ai_statuses[200] >= 50
    assert ai_statuses[402] > 0
    assert len(load.bank_decisions) >= BANK_BUYERS
    assert Counter(load.stripe_payments.values()).keys() == {"completed", "refunded", "race"}

    assert_database_agrees(load, opening, plan_tokens)

    # For every user: balance == ledger sum, never negative; the operator's report agrees.
    for user in User.objects.all():
        total = LedgerEntry.objects.filter(user=user).aggregate(s=Sum("delta"))["s"] or 0
        assert user.tokens_remaining == total >= 0, user.username
    report = StringIO()
    call_command("token_sync_report", stdout=report)  # raises CommandError on drift
    assert "OK: every balance equals its ledger sum." in report.getvalue()
