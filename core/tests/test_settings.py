"""Production settings refuse to start without what they need."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROD_ENV = {
    "DJANGO_SETTINGS_MODULE": "purelaka.settings_prod",
    "DJANGO_SECRET_KEY": "x" * 60 + "-prod-like-secret-key-for-tests",
    "DJANGO_ALLOWED_HOSTS": "shop.example.com",
    "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/purelaka",
    "PAYMENTS_USE_STRIPE": "1",
    "STRIPE_SECRET_KEY": "sk_test_for_settings_tests",
    "STRIPE_PUBLISHABLE_KEY": "pk_test_for_settings_tests",
    "STRIPE_WEBHOOK_SECRET": "whsec_for_settings_tests",
}


def _manage(*args, drop=(), **extra):
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "STRIPE_"))
    }
    env.update(PROD_ENV)
    env.update(extra)
    for name in drop:
        env.pop(name, None)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    "missing", ["DJANGO_SECRET_KEY", "DJANGO_ALLOWED_HOSTS", "DATABASE_URL"]
)
def test_prod_settings_name_a_missing_variable_in_one_line(missing):
    result = _manage("check", drop=[missing])
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert missing in lines[0]
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("key", "says"),
    [
        (
            "change-me-to-a-long-random-string-of-at-least-fifty-characters-0123",
            "published placeholder",
        ),
        (
            "dev-only-insecure-key-never-use-in-production-0123456789abcdef",
            "published placeholder",
        ),
        ("k", "has 1 characters; it needs 50"),
        ("ab" * 40, "fewer than 5 different characters"),
        ("django-insecure-" + "q7Zk2-Lm9" * 6, "insecure"),
    ],
)
def test_prod_settings_refuse_a_secret_key_that_is_no_secret(key, says):
    result = _manage("check", DJANGO_SECRET_KEY=key)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert "DJANGO_SECRET_KEY" in lines[0] and says in lines[0]


def test_prod_settings_require_stripe_keys_only_when_stripe_is_on():
    result = _manage("check", drop=["STRIPE_SECRET_KEY"])
    assert result.returncode != 0
    assert "STRIPE_SECRET_KEY" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    offline = _manage(
        "check", drop=["STRIPE_SECRET_KEY", "STRIPE_PUBLISHABLE_KEY"],
        PAYMENTS_USE_STRIPE="0", PAYMENTS_ALLOW_OFFLINE="1",
    )  # fmt: skip
    assert offline.returncode == 0, offline.stderr


def test_prod_settings_refuse_offline_payments_unless_opted_in():
    result = _manage("check", PAYMENTS_USE_STRIPE="0")
    assert result.returncode != 0
    assert "PAYMENTS_USE_STRIPE=0 would take no real payments" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_prod_settings_refuse_the_public_development_webhook_secret():
    result = _manage(
        "check", STRIPE_WEBHOOK_SECRET="whsec_test_purelaka_offline_secret"
    )
    assert result.returncode != 0
    assert "public development secret" in result.stderr


def test_prod_settings_pass_the_deploy_check():
    result = _manage("check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


def test_prod_settings_refuse_an_unknown_webhook_processing_mode():
    result = _manage("check", STRIPE_WEBHOOK_PROCESSING="later")
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "STRIPE_WEBHOOK_PROCESSING='later'" in lines[0]


def test_prod_settings_queue_webhooks_and_share_one_redis_cache():
    script = (
        "from django.conf import settings as s; "
        "print(s.STRIPE_WEBHOOK_PROCESSING, s.CACHES['default']['BACKEND'], "
        "s.CACHES['default']['LOCATION'])"
    )
    result = _manage("shell", "-v", "0", "-c", script, CACHE_URL="redis://cache:6379/2")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "queue",
        "django.core.cache.backends.redis.RedisCache",
        "redis://cache:6379/2",
    ]


def test_seed_demo_refuses_production_settings_in_one_line():
    result = _manage("seed_demo")
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert "refused with DEBUG off" in lines[0] and "--allow-production" in lines[0]
