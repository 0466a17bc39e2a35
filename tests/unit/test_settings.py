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
    "TAISLY_DASH_FINGERPRINT_KEY": "f" * 40,
    "DEBUG": "false",
    "DATABASE_URL": "postgres://taisly@db.example.com:5432/taisly",
}


def _clean_env(env: dict[str, str]) -> dict[str, str]:
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(
            ("DJANGO", "SECRET_KEY", "DEBUG", "TAISLY", "ALLOWED_HOSTS", "DATABASE_URL")
        )
    }
    clean.update(env)
    clean["DJANGO_SETTINGS_MODULE"] = "taisly_dash.settings"
    return clean


def load_settings(env: dict[str, str], expr: str = "'ok'") -> subprocess.CompletedProcess:
    clean = _clean_env(env)
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
        # The SQLite default would put production data in a file inside the container.
        ({"DATABASE_URL": None}, "Set DATABASE_URL in production"),
        ({"DATABASE_URL": ""}, "Set DATABASE_URL in production"),
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


def test_production_runs_on_sqlite_when_asked_for_by_url(tmp_path):
    url = f"sqlite:///{tmp_path / 'prod.sqlite3'}"
    result = load_settings({**PROD_OK, "DATABASE_URL": url}, "s.DATABASES['default']['NAME']")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(tmp_path / "prod.sqlite3")


@pytest.mark.parametrize(
    ("keys", "position"),
    [
        ("not-a-fernet-key", "value 1 of 1"),
        (f"{GOOD_FERNET},short", "value 2 of 2"),
        (GOOD_FERNET[:-2], "value 1 of 1"),  # a truncated paste
    ],
)
@pytest.mark.parametrize("django_env", ["production", "development"])
def test_a_malformed_encryption_key_is_refused_at_start_up(keys, position, django_env):
    # Only loading the settings: no stored key is read, no page rendered.
    env = {**PROD_OK, "DJANGO_ENV": django_env, "TAISLY_DASH_ENCRYPTION_KEYS": keys}
    result = load_settings(env)
    assert result.returncode != 0
    assert f"TAISLY_DASH_ENCRYPTION_KEYS: {position} is not a Fernet key" in result.stderr
    assert "generate_encryption_key" in result.stderr
    for key in keys.split(","):
        assert key not in result.stderr.replace("TAISLY_DASH_ENCRYPTION_KEYS", "")


def test_hsts_is_on_for_a_year_in_production_and_settable():
    expr = "(s.SECURE_HSTS_SECONDS, s.SECURE_HSTS_INCLUDE_SUBDOMAINS, s.SECURE_HSTS_PRELOAD)"
    assert load_settings(PROD_OK, expr).stdout.strip() == "(31536000, True, True)"
    assert load_settings({}, expr).stdout.strip() == "(0, False, False)"
    changed = {
        **PROD_OK,
        "SECURE_HSTS_SECONDS": "600",
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": "false",
        "SECURE_HSTS_PRELOAD": "false",
    }
    assert load_settings(changed, expr).stdout.strip() == "(600, False, False)"


def test_the_deploy_check_is_clean_with_production_settings():
    # A real-looking SECRET_KEY: Django's deploy check wants 50+ characters, 5+ distinct.
    env = _clean_env(
        {**PROD_OK, "SECRET_KEY": "q8#Zr2!vL0pX7w$Nd4@kT6yB1mJ9sF3hG5cQ-eR_uA0987654321"}
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


DOCKER_IGNORED = [
    ".env",
    ".env.production",
    "db.sqlite3",
    "db.sqlite3-wal",
    "db.sqlite3-shm",
    "sandbox.sqlite3",
    ".git/HEAD",
    ".venv/bin/python",
    "media/uploads/a.mp4",
    "accounts/__pycache__/views.cpython-311.pyc",
    "tests/unit/__pycache__/x.pyc",
    ".pytest_cache/v/cache/nodeids",
    ".ruff_cache/0.8/x",
    "test-results/screenshots/a.png",
    "bench-results/upload.json",
    "staticfiles/css/app.css",
    "taisly_dash.egg-info/PKG-INFO",
    "posting/taisly/client.pyc",
]
DOCKER_KEPT = [
    "manage.py",
    "pyproject.toml",
    "accounts/views.py",
    "static/css/app.css",
    "templates/base.html",
    "locale/id/LC_MESSAGES/django.mo",
]


def _dockerignore_regexes() -> list[tuple[bool, re.Pattern]]:
    """.dockerignore's patterns as Docker reads them (moby/patternmatcher): `**` any number of
    directories, `*`, `?` and `[...]` within one name, `!` re-includes, the last match wins, and a
    pattern that matches a directory excludes everything in it."""
    rules = []
    for line in (ROOT / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        keep = line.startswith("!")
        pattern = line.lstrip("!").strip("/")
        regex = ""
        i = 0
        while i < len(pattern):
            if pattern.startswith("**/", i):
                regex, i = regex + "(?:.*/)?", i + 3
            elif pattern.startswith("**", i):
                regex, i = regex + ".*", i + 2
            elif pattern[i] == "*":
                regex, i = regex + "[^/]*", i + 1
            elif pattern[i] == "?":
                regex, i = regex + "[^/]", i + 1
            elif pattern[i] == "[" and "]" in pattern[i:]:
                end = pattern.index("]", i)
                regex, i = regex + pattern[i : end + 1], end + 1
            else:
                regex, i = regex + re.escape(pattern[i]), i + 1
        rules.append((keep, re.compile(f"^{regex}$")))
    return rules


def _docker_ignores(path: str, rules) -> bool:
    parts = path.split("/")
    candidates = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    ignored = False
    for keep, regex in rules:
        if any(regex.match(candidate) for candidate in candidates):
            ignored = not keep
    return ignored


def test_the_image_leaves_out_secrets_databases_and_caches():
    rules = _dockerignore_regexes()
    assert [p for p in DOCKER_IGNORED if not _docker_ignores(p, rules)] == []
    assert [p for p in DOCKER_KEPT if _docker_ignores(p, rules)] == []


def test_production_refuses_to_start_without_a_fingerprint_key():
    env = {k: v for k, v in PROD_OK.items() if k != "TAISLY_DASH_FINGERPRINT_KEY"}
    result = load_settings(env)
    assert result.returncode != 0
    assert "TAISLY_DASH_FINGERPRINT_KEY" in result.stderr


def test_the_login_limiter_can_be_told_the_client_address_behind_a_proxy():
    """Behind a proxy every visitor has the proxy's address: the per-IP login limits need to be
    told which proxies (or which header) to trust, or they count the whole site as one."""
    expr = "(s.ALLAUTH_TRUSTED_PROXY_COUNT, s.ALLAUTH_TRUSTED_CLIENT_IP_HEADER)"
    assert load_settings({}, expr).stdout.strip() == "(0, None)"
    both = {"ALLAUTH_TRUSTED_PROXY_COUNT": "1", "ALLAUTH_TRUSTED_CLIENT_IP_HEADER": "X-Real-IP"}
    assert load_settings(both, expr).stdout.strip() == "(1, 'X-Real-IP')"
