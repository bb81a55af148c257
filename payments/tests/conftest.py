import pytest


@pytest.fixture
def bank_configured(settings):
    settings.BANK_TRANSFER_BANK_NAME = "Volx Test Bank"
    settings.BANK_TRANSFER_ACCOUNT_NAME = "Volx Ltd"
    settings.BANK_TRANSFER_ACCOUNT_NUMBER = "0123456789"
    settings.BANK_TRANSFER_SWIFT = "VOLXVNVX"
    return settings


# --- Stripe and PayPal: local fake APIs ------------------------------------------------


@pytest.fixture
def network_guard(monkeypatch):
    """Any connection off this machine fails the test (checked again at teardown, in case
    the code under test swallowed the refusal)."""
    from payments.tests.fakes import NetworkGuard

    guard = NetworkGuard()
    guard.install(monkeypatch)
    yield guard
    assert guard.blocked == [], f"outbound connections attempted: {guard.blocked}"


@pytest.fixture
def fake_stripe(settings, network_guard):
    from payments.tests.fakes import SITE_URL, FakeStripe

    server = FakeStripe().start()
    settings.SITE_URL = SITE_URL
    settings.STRIPE_SECRET_KEY = "sk_test_volx"
    settings.STRIPE_WEBHOOK_SECRET = "whsec_test_volx"
    settings.STRIPE_WEBHOOK_TOLERANCE = 300
    settings.STRIPE_API_BASE = server.url
    yield server
    server.stop()


@pytest.fixture
def fake_paypal(settings, network_guard):
    from payments.gateways import paypal
    from payments.tests.fakes import SITE_URL, FakePayPal

    # Each process keeps its PayPal client and token; a test's fake is a new PayPal.
    paypal._api_for.cache_clear()
    server = FakePayPal().start()
    settings.SITE_URL = SITE_URL
    settings.PAYPAL_MODE = "sandbox"
    settings.PAYPAL_CLIENT_ID, settings.PAYPAL_CLIENT_SECRET = FakePayPal.CLIENT
    settings.PAYPAL_WEBHOOK_ID = "WH-VOLX-TEST"
    settings.PAYPAL_API_BASE = server.url
    yield server
    server.stop()
