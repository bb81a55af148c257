import pytest


@pytest.fixture
def api(user, client_for):
    """The API as `user` (registered: 10,000 tokens, free plan)."""
    return client_for(user)
