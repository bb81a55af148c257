import pytest


@pytest.fixture
def bank_configured(settings):
    settings.BANK_TRANSFER_BANK_NAME = "Volx Test Bank"
    settings.BANK_TRANSFER_ACCOUNT_NAME = "Volx Ltd"
    settings.BANK_TRANSFER_ACCOUNT_NUMBER = "0123456789"
    settings.BANK_TRANSFER_SWIFT = "VOLXVNVX"
    return settings
