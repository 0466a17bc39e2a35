"""The production image, run as compose.yaml runs it: CI's smoke test (.ci/docker-smoke).

Not collected by `make test` (the name does not start with ``test_``): it needs a Docker engine
and a built image, which .ci/docker-smoke provides and names in TAISLY_DASH_IMAGE, then runs
    python -m pytest tests/docker/smoke_image.py
Without either it fails; it never skips.

Each service's command, environment and health check come from `docker-compose config` over the
committed compose.yaml, with an .env made from .env.example as the README's quick start makes
it, so the file and this test cannot drift apart. What differs is only where things are: CI has
no container network (every container runs with --network host), so the database is a fresh one
on the local PostgreSQL instead of compose's `postgres` service, the web listens on a free port,
and Taisly is the project's sandbox running on this machine.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import time
import uuid
from http.cookies import SimpleCookie
from pathlib import Path

import psycopg
import pytest
import requests
import yaml

from tests.polling import wait_until
from tests.videos import make_video

ROOT = Path(__file__).resolve().parents[2]
CLUSTERS = ("worker", "uploads", "webhooks")
RUN_ID = uuid.uuid4().hex[:8]
PASSWORD = "smoke-pass-" + RUN_ID
EMAIL = f"smoke-{RUN_ID}@example.com"


def docker(*args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
    done = subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and done.returncode != 0:
        raise AssertionError(
            f"docker {' '.join(args[:3])}… exited {done.returncode}:\n"
            f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        )
    return done


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def pg_server_url() -> str:
    url = os.environ.get("DATABASE_URL") or "postgres://postgres@127.0.0.1:5432/postgres"
    assert url.startswith(("postgres://", "postgresql://")), "DATABASE_URL names no PostgreSQL"
    return url.rsplit("/", 1)[0]


# --- the stack ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def image() -> str:
    name = os.environ.get("TAISLY_DASH_IMAGE", "")
    assert name, "TAISLY_DASH_IMAGE names no image: run this through .ci/docker-smoke"
    docker("image", "inspect", name)
    return name


@pytest.fixture(scope="module")
def database():
    name = f"taisly_smoke_{RUN_ID}"
    server = pg_server_url()
    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield f"{server}/{name}"
    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def compose_services(tmp_path_factory, sandbox) -> dict:
    """compose.yaml's services as Compose resolves them, with the quick start's .env: a copy of
    .env.example with the required values filled in (and Taisly pointed at the sandbox)."""
    project = tmp_path_factory.mktemp("compose")
    shutil.copy(ROOT / "compose.yaml", project / "compose.yaml")
    env = (ROOT / ".env.example").read_text()
    filled = {
        "SECRET_KEY": "smoke-secret-" + "k" * 50,
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "TAISLY_DASH_ENCRYPTION_KEYS": "c21va2UtdGVzdC1rZXktbm90LWEtc2VjcmV0LTAwMDA=",
        "TAISLY_DASH_FINGERPRINT_KEY": "smoke-fingerprint-" + "f" * 40,
        "POSTGRES_PASSWORD": "smoke0123",
    }
    for key, value in filled.items():
        env, count = re.subn(rf"^{key}=$", f"{key}={value}", env, flags=re.M)
        assert count == 1, f".env.example has no empty `{key}=` line to fill in"
    env += f"\nTAISLY_BASE_URL={sandbox.base_url}\n"
    (project / ".env").write_text(env)
    done = subprocess.run(
        ["docker-compose", "-f", "compose.yaml", "config"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=60,
        env={k: v for k, v in os.environ.items() if k not in filled},
    )
    assert done.returncode == 0, f"docker-compose config:\n{done.stderr}"
    return yaml.safe_load(done.stdout)["services"]


class Stack:
    def __init__(self, image: str, services: dict, database_url: str) -> None:
        self.image = image
        self.services = services
        self.database_url = database_url
        self.web_port = free_port()
        self.media_volume = f"taisly-smoke-media-{RUN_ID}"
        self.containers: dict[str, str] = {}

    def env(self, service: str) -> dict[str, str]:
        env = {k: str(v) for k, v in (self.services[service].get("environment") or {}).items()}
        # compose's database is the `postgres` service; here, the local server.
        env["DATABASE_URL"] = self.database_url
        if service == "web":
            env["PORT"] = str(self.web_port)
        return env

    def run_args(self, service: str, name: str) -> list[str]:
        args = ["--network", "host", "--hostname", name]
        for key, value in self.env(service).items():
            args += ["-e", f"{key}={value}"]
        for volume in self.services[service].get("volumes", []):
            source, target = volume.split(":")[:2]
            assert source == "media", f"{service}: unexpected volume {volume}"
            args += ["-v", f"{self.media_volume}:{target}"]
        return args

    def run_once(self, service: str, *command: str, timeout: float = 180) -> str:
        name = f"taisly-smoke-{service}-once-{uuid.uuid4().hex[:6]}"
        command = command or tuple(self.services[service]["command"])
        done = docker(
            "run",
            "--rm",
            "--name",
            name,
            *self.run_args(service, name),
            self.image,
            *command,
            timeout=timeout,
        )
        return done.stdout

    def start(self, service: str) -> str:
        name = f"taisly-smoke-{service}-{RUN_ID}"
        docker(
            "run",
            "-d",
            "--name",
            name,
            *self.run_args(service, name),
            self.image,
            *self.services[service]["command"],
        )
        self.containers[service] = name
        return name

    def health(self, service: str) -> subprocess.CompletedProcess:
        test = self.services[service]["healthcheck"]["test"]
        assert test[0] == "CMD", test
        return docker("exec", self.containers[service], *test[1:], check=False, timeout=30)

    def wait_healthy(self, service: str, timeout: float = 90) -> None:
        def healthy():
            if not self.running(service):
                raise AssertionError(f"{service} exited:\n{self.logs(service)}")
            return self.health(service).returncode == 0

        try:
            wait_until(healthy, what=f"{service}'s health check", timeout=timeout, every=1)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{self.health(service).stdout}\n{self.logs(service)}")

    def running(self, service: str) -> bool:
        state = docker("inspect", "-f", "{{.State.Running}}", self.containers[service])
        return state.stdout.strip() == "true"

    def logs(self, service: str) -> str:
        done = docker("logs", "--tail", "60", self.containers[service], check=False)
        return f"--- {service} logs:\n{done.stdout}{done.stderr}"

    def remove(self) -> None:
        for name in self.containers.values():
            docker("rm", "-f", "-v", name, check=False)
        docker("volume", "rm", "-f", self.media_volume, check=False)


@pytest.fixture(scope="module")
def stack(image, compose_services, database):
    stack = Stack(image, compose_services, database)
    try:
        stack.run_once("migrate")
        for service in ("web", *CLUSTERS):
            stack.start(service)
        for service in ("web", *CLUSTERS):
            stack.wait_healthy(service)
        yield stack
    finally:
        stack.remove()


# --- a client that talks to the web as the TLS proxy in front of it would --------------------


class Browser:
    """Plain HTTP to gunicorn, with X-Forwarded-Proto: https as the proxy in front sends it.
    Production's cookies are Secure, so they are kept here by hand (a cookie jar would not send
    them over http)."""

    def __init__(self, port: int) -> None:
        self.origin = f"https://127.0.0.1:{port}"
        self.base = f"http://127.0.0.1:{port}"
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, **kwargs) -> requests.Response:
        headers = {"X-Forwarded-Proto": "https", **kwargs.pop("headers", {})}
        if method == "POST":
            headers |= {"Origin": self.origin, "Referer": self.origin + path}
        for _ in range(5):
            response = requests.request(
                method,
                self.base + path,
                headers=headers,
                cookies=self.cookies,
                allow_redirects=False,
                timeout=30,
                **kwargs,
            )
            for header in response.raw.headers.getlist("Set-Cookie"):
                for name, morsel in SimpleCookie(header).items():
                    self.cookies[name] = morsel.value
            if response.status_code not in (301, 302, 303) or method != "GET":
                return response
            path = response.headers["Location"].removeprefix(self.origin)
        return response

    def get(self, path: str) -> requests.Response:
        return self.request("GET", path)

    def post_form(self, path: str, data: dict, files: dict | None = None) -> requests.Response:
        page = self.get(path)
        assert page.status_code == 200, (path, page.status_code, page.text[:1000])
        data = {"csrfmiddlewaretoken": csrf_token(page.text), **data}
        return self.request("POST", path, data=data, files=files)


def csrf_token(html: str) -> str:
    found = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
    assert found, "no CSRF token in the form"
    return found.group(1)


# --- the smoke test -----------------------------------------------------------------------------


def test_the_web_answers_healthz_and_readyz_with_every_cluster_running(stack):
    browser = Browser(stack.web_port)
    healthz = browser.get("/healthz")
    assert healthz.status_code == 200, healthz.text
    # Migrated, cache table made, and each cluster's health check saw its cluster running.
    readyz = browser.get("/readyz")
    assert readyz.status_code == 200, readyz.text
    assert {"cluster:default", "cluster:uploads"} <= set(readyz.json()["checks"])


def test_the_web_serves_its_static_files(stack):
    browser = Browser(stack.web_port)
    page = browser.get("/login/")
    assert page.status_code == 200
    stylesheets = re.findall(r'href="(/static/[^"]+\.css)"', page.text)
    assert stylesheets, page.text[:2000]
    for path in stylesheets:
        response = browser.get(path)
        assert response.status_code == 200, path
        assert response.headers["Content-Type"].startswith("text/css")


@pytest.fixture(scope="module")
def signed_in(stack) -> Browser:
    """A user made with a manage.py command in the image (migrate's environment), then a real
    log-in: the form, its CSRF token, the POST, and the overview."""
    stack.run_once(
        "migrate",
        "python",
        "manage.py",
        "shell",
        "-c",
        "from accounts.models import User; from accounts.services import "
        "workspace_create_personal as personal; "
        f"personal(user=User.objects.create_user(email='{EMAIL}', password='{PASSWORD}'))",
    )
    browser = Browser(stack.web_port)
    response = browser.post_form("/login/", {"login": EMAIL, "password": PASSWORD})
    assert response.status_code == 302, response.text[:3000]
    assert response.headers["Location"] == "/"
    # Connecting a key asks for the password again (allauth's re-authentication): give it now,
    # through the real page, as a person would when asked.
    again = browser.post_form("/reauthenticate/", {"password": PASSWORD})
    assert again.status_code == 302, again.text[:3000]
    return browser


def test_a_person_logs_in_and_sees_the_overview(signed_in):
    home = signed_in.get("/")
    assert home.status_code == 200, home.text[:3000]
    assert re.search(r"/w/[0-9a-f-]{36}/", home.text)


def test_an_upload_through_the_web_reaches_taisly_through_the_uploads_worker(
    stack, signed_in, sandbox, tmp_path
):
    account = sandbox.create_account()
    code = re.search(r"/w/([0-9a-f-]{36})/", signed_in.get("/").text).group(1)
    connected = signed_in.post_form(
        f"/w/{code}/taisly/connect/", {"api_key": account["api_key"], "plan": ""}
    )
    assert connected.status_code == 302, connected.text[:3000]

    compose = f"/w/{code}/posts/new/"
    page = signed_in.get(compose)
    platforms = re.findall(r'name="platforms" value="([^"]+)"', page.text)
    if not platforms:  # the accounts were not read on connecting: "Sync now" on their page
        synced = signed_in.request(
            "POST", f"/w/{code}/accounts/sync/", data={"csrfmiddlewaretoken": csrf_token(page.text)}
        )
        assert synced.status_code in (200, 302), synced.text[:3000]
        page = signed_in.get(compose)
        platforms = re.findall(r'name="platforms" value="([^"]+)"', page.text)
    assert platforms, page.text[:3000]
    token = re.search(r'name="token" value="([^"]+)"', page.text).group(1)
    video = make_video(tmp_path / "smoke.mp4")
    with open(video, "rb") as fh:
        sent = signed_in.request(
            "POST",
            compose,
            data={
                "csrfmiddlewaretoken": csrf_token(page.text),
                "token": token,
                "platforms": platforms[:2],
                "description": f"smoke {RUN_ID}",
                "when": "now",
                "cover_second": "1",
            },
            files={"video": ("smoke.mp4", fh, "video/mp4")},
        )
    assert sent.status_code == 302, sent.text[:3000]

    def posted():
        response = requests.get(
            f"{sandbox.base_url}/post/history",
            params={"page": 1},
            headers={"Authorization": f"Bearer {account['api_key']}"},
            timeout=10,
        )
        return [
            p for p in response.json()["data"] if f"smoke {RUN_ID}" in (p.get("description") or "")
        ]

    try:
        found = wait_until(posted, what="the post in Taisly's history", timeout=90, every=1)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{stack.logs('web')}\n{stack.logs('uploads')}") from None
    assert len(found) == 1
    post_page = signed_in.get(sent.headers["Location"])
    assert post_page.status_code == 200


@pytest.mark.parametrize("service", ["web", *CLUSTERS])
def test_no_process_logged_an_error(stack, service):
    """Nothing went wrong on the way (gunicorn's "[ERROR] Control server error: Permission
    denied" once did, as did a 500 on log-in without the cache table)."""
    logs = (
        docker("logs", stack.containers[service]).stderr
        + docker("logs", stack.containers[service]).stdout
    )
    errors = [line for line in logs.splitlines() if re.search(r"\[ERROR\]| ERROR |Traceback", line)]
    assert errors == [], stack.logs(service)


@pytest.mark.parametrize("service", ["web", *CLUSTERS])
def test_each_process_stops_on_sigterm_within_ten_seconds(stack, service):
    started = time.monotonic()
    docker("stop", "--time", "10", stack.containers[service], timeout=30)
    took = time.monotonic() - started
    code = docker("inspect", "-f", "{{.State.ExitCode}}", stack.containers[service]).stdout
    assert int(code) != 137, f"{service} was killed\n{stack.logs(service)}"
    assert int(code) == 0, f"{service} exited {code}\n{stack.logs(service)}"
    assert took < 10, f"{service} took {took:.1f} s to stop"
