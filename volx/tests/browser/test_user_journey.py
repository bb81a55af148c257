"""The whole journey of a new user in headless Chromium, in English and in Vietnamese:
register, use AI, run out, request an upgrade, an admin approves it, use the new tokens."""

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from accounts.models import User
from accounts.tests.factories import UserFactory
from tokens.wallet import Wallet

pytestmark = pytest.mark.browser

ARTICLE = (
    "Search engine optimisation helps small businesses reach new customers. "
    "A clear title and a short meta description tell search engines what a page is about."
)
PASSWORD = "Correct-Horse-42"


def badge(browser) -> str:
    return browser.find_element(By.ID, "token-badge").text


def wait_until_badge(browser, text: str) -> None:
    WebDriverWait(browser, 10).until(lambda driver: badge(driver) == text)


def log_in(browser, site, login: str, password: str = PASSWORD) -> None:
    browser.get(f"{site.url}/login/")
    browser.find_element(By.NAME, "username").send_keys(login)
    browser.find_element(By.NAME, "password").send_keys(password)
    browser.find_element(By.CSS_SELECTOR, "main form button[type=submit]").click()
    # Signed in once the login page is left: the next browser.get() must not cut the POST.
    WebDriverWait(browser, 20).until(lambda driver: "/login/" not in driver.current_url)


def log_out(browser) -> None:
    browser.delete_all_cookies()  # the session cookie: a fresh anonymous browser


def run_seo_title(browser, wait_for) -> None:
    text = wait_for("#tools-text")
    text.clear()
    text.send_keys(ARTICLE)
    browser.find_element(By.ID, "action-generate-seo-title").click()


def test_register_use_run_out_upgrade_approve_and_use_again(site, browser, wait_for, screenshot):
    # Register: the dashboard greets the user with 10,000 free tokens.
    browser.get(f"{site.url}/register/")
    browser.find_element(By.NAME, "email").send_keys("minh@example.com")
    browser.find_element(By.NAME, "username").send_keys("minh")
    browser.find_element(By.NAME, "password").send_keys(PASSWORD)
    screenshot("register")
    browser.find_element(By.CSS_SELECTOR, "main form button[type=submit]").click()
    wait_for("#token-badge")
    assert browser.current_url.endswith("/dashboard/")
    assert badge(browser) == "⚡ 10,000 Token"
    screenshot("dashboard-10000")

    # One AI action: the result appears and the badge drops by 300.
    browser.get(f"{site.url}/tools/")
    run_seo_title(browser, wait_for)
    wait_until_badge(browser, "⚡ 9,700 Token")
    assert browser.find_element(By.ID, "tools-result").text.strip()
    screenshot("seo-title-9700")

    # Run out: at 200 tokens a 300-token action opens the insufficient-tokens dialog.
    user = User.objects.get(username="minh")
    Wallet(user).debit(9_500, action="rewrite")
    browser.get(f"{site.url}/tools/")
    assert badge(browser) == "⚡ 200 Token"
    run_seo_title(browser, wait_for)
    wait_for("dialog#insufficient-tokens")
    numbers = {
        name: browser.find_element(By.ID, f"insufficient-{name}").text
        for name in ("current", "required", "missing", "plan")
    }
    assert numbers["current"] == "200"
    assert numbers["required"] == "300"
    assert numbers["missing"] == "100"
    assert "Free" in numbers["plan"] and "10,000" in numbers["plan"]
    assert badge(browser) == "⚡ 200 Token"  # refused: nothing charged
    screenshot("insufficient-tokens-dialog")

    # Request an upgrade by bank transfer: instructions with the reference code.
    assert "/upgrade/" in browser.find_element(By.ID, "insufficient-upgrade").get_attribute("href")
    browser.get(f"{site.url}/plans/")
    screenshot("plans")
    wait_for("a[href$='/plans/professional/upgrade/']").click()
    browser.find_element(By.CSS_SELECTOR, "input[name=payment_method][value=bank_transfer]").click()
    browser.find_element(By.CSS_SELECTOR, "main form.card button[type=submit]").click()
    code = wait_for("#reference-code").text
    assert code.startswith("VOLX-")
    assert badge(browser) == "⚡ 200 Token"  # a request is not money
    screenshot("bank-transfer-instructions")

    # The admin approves it in the Django admin with the list action.
    log_out(browser)
    UserFactory(username="boss", email="boss@example.com", role="admin", password=PASSWORD)
    log_in(browser, site, "boss")
    browser.get(f"{site.url}/admin/payments/payment/?q={code}")
    browser.find_element(By.CSS_SELECTOR, "input.action-select").click()
    Select(browser.find_element(By.NAME, "action")).select_by_value("approve_payments")
    browser.find_element(By.CSS_SELECTOR, "button[name=index]").click()
    wait_for("#confirm-approve_payments").click()  # the confirmation page, once it loads
    message = wait_for("ul.messagelist li").text
    assert message.startswith(f"Approved {code}")
    screenshot("admin-approved")

    # Back as the user: the new balance, and it can be spent.
    log_out(browser)
    log_in(browser, site, "minh@example.com")
    wait_for("#token-badge")
    assert badge(browser) == "⚡ 2,000,200 Token"
    screenshot("dashboard-after-approval")
    browser.get(f"{site.url}/tools/")
    run_seo_title(browser, wait_for)
    wait_until_badge(browser, "⚡ 1,999,900 Token")
    screenshot("new-tokens-used")


def test_vietnamese_labels(site, browser, wait_for, screenshot):
    user = UserFactory(username="lan", email="lan@example.com", password=PASSWORD)
    log_in(browser, site, "lan")
    wait_for("#token-badge")
    Select(browser.find_element(By.ID, "language-select")).select_by_value("vi")
    WebDriverWait(browser, 10).until(
        lambda driver: driver.find_element(By.TAG_NAME, "html").get_attribute("lang") == "vi"
    )
    browser.get(f"{site.url}/dashboard/")
    page = browser.find_element(By.TAG_NAME, "body").text
    for label in ("Bạn có", "Gói của bạn", "Đã dùng"):
        assert label in page
    assert badge(browser) == "⚡ 10.000 Token"
    screenshot("dashboard-vi")

    Wallet(user).debit(10_000)
    browser.get(f"{site.url}/tools/")
    run_seo_title(browser, wait_for)
    dialog = wait_for("dialog#insufficient-tokens").text
    for label in ("Không đủ Token", "Token hiện tại", "Token cần thiết", "Thiếu", "Gói hiện tại"):
        assert label in dialog
    assert browser.find_element(By.ID, "insufficient-missing").text == "300"
    screenshot("insufficient-tokens-vi")
