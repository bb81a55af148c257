"""The operator's back office in a real browser: approving a bank transfer, granting a
bonus, the token sync report. Screenshots of each step: artifacts/screenshots/<test>/."""

import pytest
from django.urls import Resolver404, resolve
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select

from accounts.models import User
from accounts.tests.factories import AdminFactory, UserFactory
from payments.models import Payment
from payments.tests.factories import PaymentFactory
from tokens.models import LedgerEntry
from tokens.wallet import Wallet

pytestmark = pytest.mark.browser
PASSWORD = "Correct-Horse-42"  # the factories' password


def sign_in(browser, site, wait_for, screenshot, path: str, login: str) -> None:
    """Open `path`, land on the admin's login form, sign in and come back to `path`."""
    browser.get(site.url + path)
    wait_for("#login-form")
    browser.find_element(By.ID, "id_username").send_keys(login)
    browser.find_element(By.ID, "id_password").send_keys(PASSWORD)
    screenshot("admin-login")
    browser.find_element(By.CSS_SELECTOR, "#login-form [type=submit]").click()
    wait_for("#user-tools")


def run_action(browser, action: str, *pks: int) -> None:
    for pk in pks:
        browser.find_element(By.CSS_SELECTOR, f"input.action-select[value='{pk}']").click()
    Select(browser.find_element(By.NAME, "action")).select_by_value(action)


def messages(browser) -> list[str]:
    return [m.text for m in browser.find_elements(By.CSS_SELECTOR, "ul.messagelist li")]


def balance(user) -> tuple[int, int]:
    user = User.objects.select_related("subscription").get(pk=user.pk)
    return user.tokens_remaining, user.subscription.tokens_limit


def test_admin_approves_a_bank_transfer(site, browser, wait_for, screenshot):
    admin = AdminFactory(username="operator")
    payment = PaymentFactory(user__username="writer")
    writer = payment.user

    sign_in(browser, site, wait_for, screenshot, "/admin/", "operator")
    screenshot("admin-index")
    browser.find_element(By.CSS_SELECTOR, "tr.model-payment th a").click()
    wait_for("#result_list")
    assert payment.reference_code in browser.find_element(By.ID, "result_list").text
    screenshot("payments-list")

    run_action(browser, "approve_payments", payment.pk)
    screenshot("payment-selected")
    browser.find_element(By.CSS_SELECTOR, "button[name=index]").click()
    confirm = wait_for("#confirm-approve_payments")
    assert payment.reference_code in browser.find_element(By.ID, "content").text
    assert balance(writer) == (10_000, 10_000)  # nothing happens before the confirmation
    screenshot("confirm-approval")

    confirm.click()
    wait_for("ul.messagelist")
    assert (
        f"Approved {payment.reference_code}: writer is on professional with 2,010,000 tokens."
        in messages(browser)
    )
    screenshot("approved")

    assert balance(writer) == (2_010_000, 2_010_000)
    payment.refresh_from_db()
    assert (payment.status, payment.decided_by) == (Payment.Status.APPROVED, admin)

    if not _page_exists("/dashboard/"):
        return  # the user's pages come with the pages issue; the DB check above stands
    browser.delete_all_cookies()
    browser.get(site.url + "/login/")
    wait_for("input[name=username]").send_keys("writer")
    password = browser.find_element(By.CSS_SELECTOR, "input[name=password]")
    password.send_keys(PASSWORD + Keys.ENTER)
    badge = wait_for("#token-badge")
    if "/dashboard/" not in browser.current_url:
        browser.get(site.url + "/dashboard/")
        badge = wait_for("#token-badge")
    assert badge.text == "⚡ 2,010,000 Token"
    screenshot("user-dashboard")


def test_admin_grants_bonus_tokens(site, browser, wait_for, screenshot):
    admin = AdminFactory(username="operator")
    alice, bob = UserFactory(username="alice"), UserFactory(username="bob")
    UserFactory(username="carol")

    sign_in(browser, site, wait_for, screenshot, "/admin/accounts/user/", "operator")
    wait_for("#result_list")
    screenshot("users-list")

    run_action(browser, "grant_bonus", alice.pk, bob.pk)
    browser.find_element(By.CSS_SELECTOR, "button[name=index]").click()
    wait_for("#grant-bonus-form")
    screenshot("bonus-form")

    amount = browser.find_element(By.ID, "id_amount")
    amount.send_keys("0")
    browser.find_element(By.ID, "id_reason").send_keys("Sorry for Tuesday's outage")
    browser.find_element(By.ID, "confirm-grant-bonus").click()
    # The browser itself refuses 0 (min=1); the server refuses it too (tests/test_admin.py).
    assert browser.execute_script("return arguments[0].validity.rangeUnderflow", amount)
    assert browser.find_elements(By.ID, "grant-bonus-form")
    assert balance(alice) == (10_000, 10_000)
    screenshot("bonus-refused-zero")

    amount.clear()
    amount.send_keys("5000")
    browser.find_element(By.ID, "confirm-grant-bonus").click()
    wait_for("ul.messagelist")
    assert sorted(messages(browser)) == [
        "Granted 5,000 bonus tokens to alice: balance 15,000.",
        "Granted 5,000 bonus tokens to bob: balance 15,000.",
    ]
    screenshot("bonus-granted")

    assert balance(alice) == balance(bob) == (15_000, 10_000)
    entry = LedgerEntry.objects.get(user=alice, kind=LedgerEntry.Kind.BONUS)
    assert (entry.actor, entry.note) == (admin, "Sorry for Tuesday's outage")
    assert "15,000" in browser.find_element(By.ID, "result_list").text


def test_token_sync_report_and_the_null_fix(site, browser, wait_for, screenshot):
    AdminFactory(username="operator")
    used = UserFactory(username="spender")
    Wallet(used).debit(300, action="seo_title")
    Wallet(UserFactory(username="lucky")).credit(500, kind=LedgerEntry.Kind.BONUS, note="thanks")
    legacy = UserFactory(username="legacy")
    User.objects.filter(pk=legacy.pk).update(tokens_remaining=None)
    drifted = UserFactory(username="drifted")
    User.objects.filter(pk=drifted.pk).update(tokens_remaining=77)  # a hand edit in SQL

    sign_in(browser, site, wait_for, screenshot, "/admin/", "operator")
    browser.find_element(By.ID, "sync-report-link").click()
    wait_for("#run-sync-report").click()  # the page shows the last stored run: none yet
    wait_for("#sync-statuses")
    assert statuses(browser) == {
        "SYNCED": "1", "USED SOME": "2", "BONUS": "1", "NULL": "1", "NO SUBSCRIPTION": "0",
        "DRIFT": "1",
    }  # fmt: skip
    assert drifted.email in browser.find_element(By.ID, "content").text
    screenshot("sync-report")

    browser.find_element(By.ID, "fix-null-balances").click()
    wait_for("ul.messagelist")
    assert messages(browser)[0] == "Restored 1 NULL balance from the ledger or the plan allowance."
    assert statuses(browser)["NULL"] == "0"
    assert User.objects.get(pk=legacy.pk).tokens_remaining == 10_000
    screenshot("null-fixed")

    browser.find_element(By.LINK_TEXT, drifted.email).click()
    wait_for("#user_form")
    assert browser.current_url.endswith(f"/admin/accounts/user/{drifted.pk}/change/")
    screenshot("drifted-user")


def statuses(browser) -> dict[str, str]:
    shown = {}
    for item in browser.find_elements(By.CSS_SELECTOR, "#sync-statuses li"):
        name = item.find_element(By.CLASS_NAME, "name").text
        shown[name] = item.find_element(By.CLASS_NAME, "count").text
    return shown


def _page_exists(path: str) -> bool:
    try:
        resolve(path)
    except Resolver404:
        return False
    return True
