"""Receipts: /payments/<id>/receipt/, printable, en/vi, owner only, numbered per year
(SPEC §13)."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection, transaction
from django.test import Client
from django.utils import timezone

from accounts.tests.factories import UserFactory
from payments.models import Payment, ReceiptCounter
from payments.tests.factories import PaymentFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def seller(settings):
    settings.RECEIPT_SELLER_NAME = "Volx Ltd"
    settings.RECEIPT_SELLER_ADDRESS = "12 Nguyen Hue\\nDistrict 1, Ho Chi Minh City"
    settings.RECEIPT_SELLER_TAX_ID = "0312345678"
    return settings


def confirmed(**kwargs) -> Payment:
    payment = PaymentFactory(**kwargs)
    payment.confirm()
    return payment


def receipt_of(payment: Payment, client: Client | None = None):
    if client is None:
        client = Client()
        client.force_login(payment.user)
    return client.get(f"/payments/{payment.pk}/receipt/")


def test_the_receipt_shows_seller_buyer_plan_period_amount_method_reference_and_date(seller):
    user = UserFactory(full_name="Trần Thị Mai", email="mai@example.com")
    payment = confirmed(user=user)
    year = timezone.now().year

    answer = receipt_of(payment)

    assert answer.status_code == 200
    html = answer.content.decode()
    assert f'id="receipt-number">{year}-000001<' in html
    assert payment.receipt_number == f"{year}-000001"
    for shown in [
        "Volx Ltd", "12 Nguyen Hue", "District 1, Ho Chi Minh City", "0312345678",
        "Trần Thị Mai", "mai@example.com", "Professional plan, Monthly", "50 USD",
        "Bank transfer", payment.reference_code, f'datetime="{payment.decided_at.isoformat()}"',
    ]:  # fmt: skip
        assert shown in html, shown
    assert payment.period_end - payment.period_start == timezone.timedelta(days=30)
    assert payment.period_start == payment.decided_at
    assert "@media print" in html
    assert 'id="receipt-refunded"' not in html


def test_receipt_numbers_follow_each_other_within_a_year_and_restart_with_the_next():
    year = timezone.now().year
    numbers = [confirmed().receipt_number for _ in range(3)]

    assert numbers == [f"{year}-000001", f"{year}-000002", f"{year}-000003"]
    assert ReceiptCounter.next_number(year + 1) == 1
    assert ReceiptCounter.next_number(year + 1) == 2


def test_a_confirmation_rolled_back_leaves_no_gap():
    year = timezone.now().year
    with pytest.raises(RuntimeError), transaction.atomic():
        confirmed()
        raise RuntimeError("the request failed after the confirmation")

    assert confirmed().receipt_number == f"{year}-000001"


def test_the_period_of_a_plan_bought_again_is_the_cycle_it_added():
    user = UserFactory()
    first = confirmed(user=user)
    again = confirmed(user=user)

    assert again.period_start == first.period_end
    assert again.period_end == user.subscription.__class__.objects.get(user=user).expires_at


def test_a_refunded_payment_keeps_its_receipt_marked_refunded(seller):
    payment = confirmed()
    number = payment.receipt_number
    payment.refund(reason="asked")

    html = receipt_of(payment).content.decode()

    assert payment.receipt_number == number
    assert f'id="receipt-number">{number}<' in html
    assert 'id="receipt-refunded"' in html
    assert "This payment was refunded on" in html


@pytest.mark.parametrize("decision", ["pending", "rejected", "refunded before confirmation"])
def test_no_receipt_for_money_that_was_not_confirmed(decision):
    payment = PaymentFactory()
    if decision == "rejected":
        payment.reject(reason="no money arrived")
    elif decision == "refunded before confirmation":
        payment.refund()
    assert receipt_of(payment).status_code == 404


def test_another_users_receipt_is_404():
    payment = confirmed()
    stranger = Client()
    stranger.force_login(UserFactory())
    answer = receipt_of(payment, stranger)
    assert answer.status_code == 404
    assert payment.reference_code not in answer.content.decode()


def test_the_receipt_needs_a_login():
    payment = confirmed()
    assert receipt_of(payment, Client())["Location"].startswith("/login/")


def test_the_receipt_in_vietnamese(seller, settings):
    payment = confirmed()
    client = Client()
    client.force_login(payment.user)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "vi"

    html = receipt_of(payment, client).content.decode()

    for shown in ["Biên nhận", "Bên bán", "Bên mua", "Mã số thuế", "Tổng cộng", "Đã thanh toán"]:
        assert shown in html, shown


def test_a_payment_confirmed_before_receipts_were_numbered_gets_the_next_number():
    year = timezone.now().year
    older = confirmed()
    Payment.objects.filter(pk=older.pk).update(receipt_year=None, receipt_sequence=None)
    confirmed()  # takes 2

    assert receipt_of(Payment.objects.get(pk=older.pk)).status_code == 200
    older.refresh_from_db()
    assert older.receipt_number == f"{year}-000003"


def test_the_payment_and_subscription_pages_link_the_receipt(signed_in, user):
    payment = confirmed(user=user)
    pending = PaymentFactory(user=user, plan="grow")
    receipt = f'href="/payments/{payment.pk}/receipt/"'

    assert receipt in signed_in.get(f"/payments/{payment.pk}/").content.decode()
    assert "/receipt/" not in signed_in.get(f"/payments/{pending.pk}/").content.decode()
    subscription_page = signed_in.get("/subscription/").content.decode()
    assert receipt in subscription_page
    assert subscription_page.count("/receipt/") == 1


@pytest.mark.locks
@pytest.mark.django_db(transaction=True)
def test_concurrent_confirmations_get_distinct_numbers_in_sequence():
    payments = [PaymentFactory() for _ in range(6)]
    start = threading.Barrier(len(payments))

    def confirm(payment):
        start.wait()
        try:
            payment.confirm()
            return payment.receipt_sequence
        finally:
            connection.close()

    with ThreadPoolExecutor(len(payments)) as pool:
        numbers = sorted(pool.map(confirm, payments))

    assert numbers == [1, 2, 3, 4, 5, 6]
