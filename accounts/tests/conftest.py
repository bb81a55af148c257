import pytest


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """`with committed(): client.post(...)`: the request's on-commit callbacks (its
    e-mails) run as after a real commit; the tests' own transaction never commits."""
    return lambda: django_capture_on_commit_callbacks(execute=True)
