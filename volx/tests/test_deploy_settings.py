"""Production settings: `check --deploy` is clean with HTTPS=true, and new passwords are
hashed with Argon2."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth.hashers import make_password

from accounts.models import User
from volx import settings as project_settings

MANAGE_PY = Path(__file__).resolve().parents[2] / "manage.py"
# The project's own switches; each test sets the ones it means.
PROJECT_ENV = {"DEBUG", "SECRET_KEY", "ALLOWED_HOSTS", "HTTPS", "NUM_PROXIES"}


def check_deploy(**env) -> subprocess.CompletedProcess:
    """`manage.py check --deploy --fail-level WARNING` in a fresh process, so that the
    settings module reads `env` as it would in production."""
    environment = {k: v for k, v in os.environ.items() if k not in PROJECT_ENV}
    return subprocess.run(
        [sys.executable, str(MANAGE_PY), "check", "--deploy", "--fail-level", "WARNING"],
        env={**environment, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_is_clean_with_production_settings():
    result = check_deploy(
        DEBUG="false",
        HTTPS="true",
        SECRET_KEY=secrets.token_urlsafe(64),
        ALLOWED_HOSTS="volx.example.com",
    )
    assert result.returncode == 0, result.stderr


def test_check_deploy_fails_with_the_development_defaults():
    result = check_deploy()

    assert result.returncode != 0
    for warning in ("security.W004", "security.W008", "security.W009", "security.W012"):
        assert warning in result.stderr


def test_behind_a_proxy_the_forwarded_protocol_is_trusted():
    show = "from volx import settings; print(settings.SECURE_PROXY_SSL_HEADER)"
    result = subprocess.run(
        [sys.executable, "-c", show],
        env={**os.environ, "NUM_PROXIES": "1"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.stdout.strip() == "('HTTP_X_FORWARDED_PROTO', 'https')"
    assert project_settings.SECURE_PROXY_SSL_HEADER is None  # by default nobody is trusted


def test_argon2_hashes_new_passwords_and_the_older_hashers_still_verify():
    assert project_settings.PASSWORD_HASHERS[0].endswith(".Argon2PasswordHasher")
    assert "django.contrib.auth.hashers.PBKDF2PasswordHasher" in project_settings.PASSWORD_HASHERS


@pytest.mark.django_db
def test_a_registered_user_gets_an_argon2_hash(settings, api_client):
    settings.PASSWORD_HASHERS = project_settings.PASSWORD_HASHERS  # not the tests' MD5

    response = api_client.post(
        "/api/auth/register",
        {"email": "ana@example.com", "username": "ana", "password": "Correct-Horse-42"},
        format="json",
    )

    assert response.status_code == 201
    assert User.objects.get(username="ana").password.startswith("argon2$")


@pytest.mark.django_db
def test_an_old_pbkdf2_hash_still_logs_in_and_is_upgraded_to_argon2(settings, api_client):
    settings.PASSWORD_HASHERS = project_settings.PASSWORD_HASHERS
    user = User.objects.create_user("ana", "ana@example.com")
    user.password = make_password("Correct-Horse-42", hasher="pbkdf2_sha256")
    user.save(update_fields=["password"])

    response = api_client.post(
        "/api/auth/login", {"login": "ana", "password": "Correct-Horse-42"}, format="json"
    )

    assert response.status_code == 200
    user.refresh_from_db()
    assert user.password.startswith("argon2$")
