"""The subscription page and a receipt in headless Chromium, in English and Vietnamese:
cancel a pending payment with its button, open the receipt, print it."""

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from accounts.tests.factories import UserFactory
from payments.models import Payment
from payments.tests.factories import PaymentFactory
from volx.tests.browser.test_user_journey import PASSWORD, log_in

pytestmark = pytest.mark.browser


SELLER = {
    "RECEIPT_SELLER_NAME": "Công ty TNHH Volx",
    "RECEIPT_SELLER_ADDRESS": "12 Nguyễn Huệ\\nQuận 1, TP. Hồ Chí Minh",
    "RECEIPT_SELLER_TAX_ID": "0312345678",
}


def test_subscription_page_cancel_and_receipt(start_site, browser, wait_for, screenshot):
    site = start_site(**SELLER)
    user = UserFactory(username="lan", full_name="Nguyễn Thị Lan", password=PASSWORD)
    bought = PaymentFactory(user=user, plan="professional")
    bought.confirm()
    pending = PaymentFactory(user=user, plan="business")
    log_in(browser, site, "lan")

    browser.get(f"{site.url}/subscription/")
    assert "⚡ 2,010,000 Token" in wait_for("#allowance").text
    assert wait_for("#auto-renew-state").text == "Off"
    screenshot("subscription-en")

    row = browser.find_element(By.ID, f"payment-{pending.pk}")
    row.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    WebDriverWait(browser, 10).until(
        lambda driver: "cancelled" in driver.find_element(By.CSS_SELECTOR, ".messages").text
    )
    pending.refresh_from_db()
    assert pending.status == Payment.Status.CANCELLED
    screenshot("subscription-after-cancel-en")

    browser.find_element(By.CSS_SELECTOR, f'a[href="/payments/{bought.pk}/receipt/"]').click()
    bought.refresh_from_db()
    assert wait_for("#receipt-number").text == bought.receipt_number
    seller = browser.find_element(By.ID, "receipt-seller").text
    assert "Quận 1, TP. Hồ Chí Minh" in seller and "0312345678" in seller
    screenshot("receipt-en")
    browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
    assert not browser.find_element(By.CSS_SELECTOR, ".site-header").is_displayed()
    screenshot("receipt-print-en")
    browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": ""})

    Select(browser.find_element(By.ID, "language-select")).select_by_value("vi")
    WebDriverWait(browser, 10).until(
        lambda driver: driver.find_element(By.TAG_NAME, "html").get_attribute("lang") == "vi"
    )
    browser.get(f"{site.url}/payments/{bought.pk}/receipt/")
    assert "Biên nhận" in wait_for("h1").text
    screenshot("receipt-vi")
    browser.get(f"{site.url}/subscription/")
    assert wait_for("h1").text == "Gói đăng ký của bạn"
    screenshot("subscription-vi")
