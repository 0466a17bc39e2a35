"""Settings read the environment and fail loudly; production refuses unsafe defaults."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GOOD_FERNET = "ZGV2LW9ubHktZmVybmV0LWtleS1ub3Qtc2VjcmV0ISE="
PROD_OK = {
    "DJANGO_ENV": "production",
    "SECRET_KEY": "x" * 50,
    "ALLOWED_HOSTS": "dash.example.com",
    "TAISLY_DASH_ENCRYPTION_KEYS": GOOD_FERNET,
    "DEBUG": "false",
}


def load_settings(env: dict[str, str], expr: str = "'ok'") -> subprocess.CompletedProcess:
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(
            ("DJANGO", "SECRET_KEY", "DEBUG", "TAISLY", "ALLOWED_HOSTS", "DATABASE_URL")
        )
    }
    clean.update(env)
    clean["DJANGO_SETTINGS_MODULE"] = "taisly_dash.settings"
    code = f"import django; django.setup(); from django.conf import settings as s; print({expr})"
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_development_needs_no_environment():
    result = load_settings({}, "(s.DEBUG, s.TAISLY_BASE_URL, s.DATABASES['default']['ENGINE'])")
    assert result.returncode == 0, result.stderr
    assert "True" in result.stdout
    assert "http://127.0.0.1:8765/api/private" in result.stdout
    assert "sqlite3" in result.stdout


def test_sqlite_runs_in_wal_mode_with_a_busy_timeout():
    result = load_settings({}, "s.DATABASES['default']['OPTIONS']")
    assert "journal_mode=WAL" in result.stdout
    assert "'timeout': 20" in result.stdout


def test_production_starts_with_everything_set():
    result = load_settings(PROD_OK, "(s.DEBUG, s.TAISLY_BASE_URL)")
    assert result.returncode == 0, result.stderr
    assert "(False, 'https://app.taisly.com/api/private')" in result.stdout


@pytest.mark.parametrize(
    ("override", "complaint"),
    [
        ({"SECRET_KEY": ""}, "SECRET_KEY"),
        ({"SECRET_KEY": None}, "SECRET_KEY"),
        ({"DEBUG": "true"}, "DEBUG must be off"),
        ({"TAISLY_DASH_ENCRYPTION_KEYS": None}, "TAISLY_DASH_ENCRYPTION_KEYS"),
        ({"ALLOWED_HOSTS": None}, "ALLOWED_HOSTS"),
    ],
)
def test_production_refuses_unsafe_defaults(override, complaint):
    env = {**PROD_OK, **override}
    env = {k: v for k, v in env.items() if v is not None}
    result = load_settings(env)
    assert result.returncode != 0
    assert complaint in result.stderr


@pytest.mark.parametrize(
    ("env", "complaint"),
    [
        ({"DEBUG": "maybe"}, "DEBUG must be true or false"),
        ({"TAISLY_READ_TIMEOUT": "soon"}, "TAISLY_READ_TIMEOUT must be a number"),
        ({"DJANGO_ENV": "staging"}, "DJANGO_ENV must be one of"),
        ({"EMAIL_PORT": "0"}, "EMAIL_PORT must be at least 1"),
    ],
)
def test_bad_values_fail_loudly(env, complaint):
    result = load_settings(env)
    assert result.returncode != 0
    assert complaint in result.stderr


def test_secrets_can_come_from_files(tmp_path):
    secret_file = tmp_path / "secret"
    secret_file.write_text("y" * 40 + "\n")
    env = {**PROD_OK, "SECRET_KEY_FILE": str(secret_file)}
    del env["SECRET_KEY"]
    result = load_settings(env, "s.SECRET_KEY")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "y" * 40


def test_encryption_keys_can_come_from_a_file_newest_first(tmp_path):
    newest, older = "bmV3ZXN0LWZlcm5ldC1rZXktZm9yLXRoZS10ZXN0ISE=", GOOD_FERNET
    keys_file = tmp_path / "encryption-keys"
    keys_file.write_text(f"{newest}\n{older}\n")  # one a line, as a secret mount holds them
    env = {**PROD_OK, "TAISLY_DASH_ENCRYPTION_KEYS_FILE": str(keys_file)}
    del env["TAISLY_DASH_ENCRYPTION_KEYS"]
    result = load_settings(
        env,
        "(s.TAISLY_DASH_ENCRYPTION_KEYS, __import__('accounts.crypto', fromlist=['x'])"
        ".decrypt(__import__('cryptography.fernet', fromlist=['x']).Fernet("
        f"'{older}').encrypt(b'taisly_old').decode()))",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == repr(([newest, older], "taisly_old"))


@pytest.mark.parametrize("cluster", ["default", "uploads"])
def test_each_cluster_retries_only_after_its_timeout(cluster):
    # A task still running when `retry` passes would be handed out a second time.
    result = load_settings(
        {"Q_CLUSTER_NAME": cluster},
        "(lambda C: (C.CLUSTER_NAME, C.TIMEOUT, C.RETRY, C.CATCH_UP))"
        "(__import__('django_q.conf', fromlist=['Conf']).Conf)",
    )
    assert result.returncode == 0, result.stderr
    name, timeout, retry, catch_up = eval(result.stdout)  # noqa: S307 - our own repr
    assert name == cluster
    assert retry > timeout
    assert catch_up is False
    if cluster == "uploads":
        assert timeout >= 1800  # a 500 MB upload on a slow line


def test_env_example_lists_every_setting_the_code_reads():
    read = set(
        re.findall(r'env_[a-z]+\(\s*"([A-Z0-9_]+)"', (ROOT / "taisly_dash/settings.py").read_text())
    )
    for path in (ROOT / "sandbox").rglob("*.py"):
        read |= set(re.findall(r'os\.environ\.get\(\s*"([A-Z0-9_]+)"', path.read_text()))
    assert "DATABASE_URL" in read  # the pattern finds what it should
    documented = set(re.findall(r"^#?\s*([A-Z0-9_]+)=", (ROOT / ".env.example").read_text(), re.M))
    assert read - documented == set()
