"""compose.yaml, .env.example and the Dockerfile agree with each other and with the settings.
(The image itself is built and run by CI: tests/docker/smoke_image.py.)"""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from tests.unit.test_settings import load_settings

ROOT = Path(__file__).resolve().parents[2]
APP_SERVICES = ("migrate", "web", "worker", "uploads", "webhooks")


def compose() -> dict:
    return yaml.safe_load((ROOT / "compose.yaml").read_text())


def env_file_values(text: str) -> dict[str, str]:
    """KEY=VALUE lines as Compose reads an env_file: comments and blank lines left out, the
    value taken as written (an empty one sets the variable to "")."""
    values = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            values[key.strip()] = value
    return values


REQUIRED = {
    "SECRET_KEY": "s" * 50,
    "ALLOWED_HOSTS": "dash.example.com",
    "TAISLY_DASH_ENCRYPTION_KEYS": "ZGV2LW9ubHktZmVybmV0LWtleS1ub3Qtc2VjcmV0ISE=",
    "TAISLY_DASH_FINGERPRINT_KEY": "f" * 48,
    "POSTGRES_PASSWORD": "0123abcd",
}
EVERY_SETTING = "__import__('json').dumps({k: repr(getattr(s, k)) for k in dir(s) if k.isupper()})"


def test_a_copy_of_env_example_with_the_secrets_filled_in_changes_no_default():
    """The quick start copies .env.example to .env (compose's env_file): an empty `NAME=` line
    there would set NAME to "" and quietly replace a default (an empty STATIC_ROOT, MEDIA_ROOT or
    TAISLY_BASE_URL breaks production). Only the required values may be uncommented."""
    from_file = env_file_values((ROOT / ".env.example").read_text())
    assert set(from_file) == set(REQUIRED), "only the required settings are uncommented"
    compose_env = {"DJANGO_ENV": "production", "DATABASE_URL": "postgres://t@db:5432/t"}

    with_copy = load_settings({**from_file, **REQUIRED, **compose_env}, EVERY_SETTING)
    without = load_settings({**REQUIRED, **compose_env}, EVERY_SETTING)

    assert with_copy.returncode == 0, with_copy.stderr
    assert without.returncode == 0, without.stderr
    assert json.loads(with_copy.stdout) == json.loads(without.stdout)


def test_compose_runs_a_service_for_every_task_cluster_of_the_settings():
    names = load_settings({}, "[s.Q_CLUSTER['name'], *s.Q_CLUSTER.get('ALT_CLUSTERS', {})]")
    assert names.returncode == 0, names.stderr
    clusters = set(eval(names.stdout))  # noqa: S307 - our own repr
    run = {}
    for name, service in compose()["services"].items():
        if service.get("command", [])[-1:] == ["qcluster"]:
            run[service.get("environment", {}).get("Q_CLUSTER_NAME", "default")] = name
    assert {"default", "uploads"} <= clusters
    assert clusters <= set(run), f"clusters without a service: {clusters - set(run)}"


def test_every_app_service_waits_for_migrate_and_has_a_health_check():
    services = compose()["services"]
    assert services["migrate"]["restart"] == "no"
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in APP_SERVICES:
        service = services[name]
        assert service["image"] == "taisly-dash:latest"
        assert service["volumes"] == ["media:/app/media"]
        if name != "migrate":
            assert service["depends_on"]["migrate"]["condition"] == (
                "service_completed_successfully"
            )
            assert service["healthcheck"]["test"][:4] == [
                "CMD",
                "python",
                "-m",
                "taisly_dash.health",
            ]
            # Exec form: the process itself is PID 1 and gets docker stop's SIGTERM.
            assert isinstance(service["command"], list)
            assert service["command"][0] in ("gunicorn", "python")
    assert services["minio"]["profiles"] == ["s3"]


def test_the_image_runs_the_web_command_of_compose_by_default():
    dockerfile = (ROOT / "Dockerfile").read_text()
    cmd = re.search(r"^CMD (\[.*\])$", dockerfile, re.M)
    assert cmd is not None
    assert json.loads(cmd.group(1)) == compose()["services"]["web"]["command"]
    assert re.search(r"^USER taisly$", dockerfile, re.M)


def test_gunicorn_settings_read_the_port_and_give_requests_less_than_dockers_stop_time(
    monkeypatch,
):
    monkeypatch.setenv("PORT", "8123")
    namespace: dict = {}
    exec((ROOT / "taisly_dash/gunicorn_conf.py").read_text(), namespace)  # noqa: S102
    assert namespace["bind"] == ["0.0.0.0:8123"]
    assert namespace["worker_class"] == "gthread"
    assert namespace["graceful_timeout"] < 10  # docker stop's default before it kills
    assert namespace["control_socket_disable"] is True
