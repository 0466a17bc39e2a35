"""Fixtures for the sandbox's own tests: an API client for the test's account, and test videos."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests

from tests.videos import make_noise_file, make_video


class Api:
    """Speaks to the sandbox as a Taisly client would: Bearer key, real HTTP."""

    def __init__(self, base_url: str, key: str, account: dict | None = None) -> None:
        self.base_url = base_url
        self.key = key
        self.account = account or {}
        self.session = requests.Session()

    @property
    def platform_ids(self) -> dict[str, str]:
        """Network name -> platform id, from the account answer."""
        return {p["platform"]: p["_id"] for p in self.account["platforms"]}

    def request(self, method: str, path: str, **kwargs) -> requests.Response:
        headers = kwargs.pop("headers", {})
        if self.key is not None:
            headers.setdefault("Authorization", f"Bearer {self.key}")
        kwargs.setdefault("timeout", 10)
        return self.session.request(method, self.base_url + path, headers=headers, **kwargs)

    def get(self, path: str, **kwargs) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs) -> requests.Response:
        return self.request("POST", path, **kwargs)

    def create_post(
        self, video: Path | None, platforms, *, raw_platforms: str | None = None, **fields
    ) -> requests.Response:
        data = {key: str(value) for key, value in fields.items()}
        data["platforms"] = raw_platforms if raw_platforms is not None else json.dumps(platforms)
        if video is None:
            return self.post("/post", data=data)
        with open(video, "rb") as fh:
            return self.post("/post", data=data, files={"video": (video.name, fh, "video/mp4")})

    def history(self, **params) -> dict:
        response = self.get("/post/history", params=params)
        assert response.status_code == 200, response.text
        return response.json()

    def post_in_history(self, history_id: str) -> dict:
        posts = [p for p in self.history(page=1)["data"] if p["id"] == history_id]
        assert posts, f"post {history_id} not in history"
        return posts[0]


@pytest.fixture(autouse=True)
def _clean_sandbox(request, sandbox):
    """Whatever a test did to the shared sandbox's clock and faults, the next one starts clean."""
    yield
    if "sandbox_account" not in request.fixturenames:  # that fixture cleans up already
        sandbox.clear_faults()
        sandbox.reset_clock()


@pytest.fixture
def api(sandbox, sandbox_account) -> Api:
    return Api(sandbox.base_url, sandbox_account["api_key"], sandbox_account)


@pytest.fixture
def api_for(sandbox):
    """Make an Api for a new account: api_for(plan="PRO", disconnected=["X"])."""

    def make(**kwargs) -> Api:
        account = sandbox.create_account(**kwargs)
        return Api(sandbox.base_url, account["api_key"], account)

    return make


@pytest.fixture(scope="session")
def videos(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("videos")
    return {
        "ok": make_video(folder / "ok.mp4"),
        "short": make_video(folder / "short.mp4", seconds=2),
        "long": make_video(folder / "long.mp4", seconds=95, fps=1),
        "landscape": make_video(folder / "landscape.mp4", width=320, height=180),
        "square": make_video(folder / "square.mp4", width=320, height=320),
        "nearly_vertical": make_video(folder / "nearly.mp4", width=540, height=950),
        "webm": make_video(folder / "ok.webm", container="webm"),
        "noise": make_noise_file(folder / "noise.mp4", 0.2),
    }
