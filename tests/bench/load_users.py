"""The simulated people of the load benchmark (tests/bench/bench_load.py): a bounded threaded
client (requests, one thread per person), only to the dashboard on 127.0.0.1.

Each person logs in through the real log-in form, then, until the deadline:

- a browsing person opens a page of one of their workspaces (the overview, a workspace's page,
  history, the calendar month or week, a post's page, the workspace's alerts, alerts in every
  workspace) or answers a poll (the quota meter, the alert badge), picked by weight, with a
  think time between them; after a full page it makes the requests htmx makes when the page
  loads (every element with ``hx-trigger="load…"``: the quota strip, the alert badges, a post
  page's "seen");
- an uploader opens compose, sends a video through it as the browser's htmx does (the body
  streamed from disk with its length), then polls the progress fragment every second, as the
  page does, until it answers 286 (done), and starts again.

Every request is recorded with its kind, its time and whether it was an error: a 5xx, a
connection error or timeout, or any other status than the one the kind expects (a redirect to
the log-in page is an error too). Production sends cookies only over HTTPS; the proxy's
``X-Forwarded-Proto: https`` says the request came so, and each person keeps their cookies
themselves (requests would not send a Secure cookie over plain HTTP).
"""

from __future__ import annotations

import json
import random
import re
import statistics
import threading
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from html.parser import HTMLParser
from http.cookies import SimpleCookie
from pathlib import Path

import requests

MB = 1024 * 1024
#: Seconds before a page request counts as failed (a connection error); uploads get longer.
PAGE_TIMEOUT = 60
UPLOAD_TIMEOUT = 600
#: As the progress fragment polls (``hx-trigger="every 1s"``).
POLL_SECONDS = 1.0
#: The first error descriptions kept in full (the rest are counted).
ERROR_SAMPLES = 20

#: What a browsing person opens, with its weight. ``{w}`` is a workspace code, ``{p}`` a post
#: code of it; an ``htmx`` entry is a poll (the fragment alone), the others are full pages.
PAGES: tuple[tuple[str, int, str, bool], ...] = (
    ("overview", 2, "/", False),
    ("workspace", 1, "/w/{w}/", False),
    ("history", 3, "/w/{w}/posts/", False),
    ("calendar", 2, "/w/{w}/calendar/", False),
    ("calendar_week", 1, "/w/{w}/calendar/week/", False),
    ("post", 3, "/w/{w}/posts/{p}/", False),
    ("alerts", 1, "/w/{w}/alerts/", False),
    ("alerts_everywhere", 1, "/alerts/", False),
    ("quota_meter", 2, "/w/{w}/quota/", True),
    ("alert_badge", 2, "/w/{w}/alerts/badge/", True),
)

#: Every kind a run makes, with the statuses it expects.
EXPECTED: dict[str, tuple[int, ...]] = {
    **{kind: (200,) for kind, _weight, _path, _htmx in PAGES},
    "alert_badge_everywhere": (200,),
    "post_seen": (204,),
    "compose": (200,),
    "upload": (200,),
    # The fragment answers 200 while the post is still on its way, 286 once it is done.
    "progress": (200, 286),
}
LOGIN_KIND = "login"


def kind_of_fragment(path: str) -> str:
    """The kind of a request a page makes when it loads."""
    if re.search(r"/quota/$", path):
        return "quota_meter"
    if re.search(r"/alerts/badge/$", path):
        return "alert_badge"
    if path.startswith("/alerts/") and "fragment=badge" in path:
        return "alert_badge_everywhere"
    if re.search(r"/seen/$", path):
        return "post_seen"
    if re.search(r"/progress/$", path):
        return "progress"  # the post page asks its live part again (posting/post.html#live)
    return "fragment_other"


# --- recording ----------------------------------------------------------------------------------


@dataclass
class Recorder:
    """Every request's kind, time and outcome, from every thread."""

    timings: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: Counter = field(default_factory=Counter)
    samples: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, kind: str, ms: float, error: str | None = None) -> None:
        with self.lock:
            self.timings[kind].append(ms)
            if error:
                self.errors[kind] += 1
                if len(self.samples) < ERROR_SAMPLES:
                    self.samples.append(f"{kind}: {error}")

    def error(self, kind: str, what: str) -> None:
        """An error found after the request itself (an upload that did not end sent)."""
        with self.lock:
            self.errors[kind] += 1
            if len(self.samples) < ERROR_SAMPLES:
                self.samples.append(f"{kind}: {what}")


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def figures(values: list[float]) -> dict:
    if not values:
        return {"requests": 0}
    return {
        "requests": len(values),
        "p50_ms": round(statistics.median(values), 1),
        "p99_ms": round(percentile(values, 0.99), 1),
        "max_ms": round(max(values), 1),
    }


# --- one person's browser -------------------------------------------------------------------


class _Triggers(HTMLParser):
    """The requests htmx makes when a page loads (method, URL, and a form's fields when the
    element is a form, which htmx sends with it), and the page's CSRF token (``hx-headers``)."""

    def __init__(self) -> None:
        super().__init__()
        self.on_load: list[tuple[str, str, list[tuple[str, str]]]] = []
        self.csrf: str | None = None
        self._form: list[tuple[str, str]] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {name: value or "" for name, value in attrs}
        if tag == "body" and found.get("hx-headers"):
            self.csrf = json.loads(found["hx-headers"]).get("x-csrftoken")
        if tag == "input" and self._form is not None and found.get("name"):
            self._form.append((found["name"], found.get("value", "")))
        events = [part.strip().split(" ")[0] for part in found.get("hx-trigger", "").split(",")]
        if "load" in events:
            for method in ("get", "post"):
                if found.get(f"hx-{method}"):
                    fields: list[tuple[str, str]] = []
                    self.on_load.append((method.upper(), found[f"hx-{method}"], fields))
                    if tag == "form":
                        self._form = fields

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._form = None


class Browser:
    """One person: their cookies, their address as the proxy reports it, one connection pool."""

    def __init__(self, base: str, recorder: Recorder, client_ip: str) -> None:
        self.base = base
        self.origin = "https://" + base.removeprefix("http://")
        self.recorder = recorder
        self.http = requests.Session()
        self.cookies: dict[str, str] = {}
        self.headers = {"X-Forwarded-Proto": "https", "X-Forwarded-For": client_ip}

    def close(self) -> None:
        self.http.close()

    def request(
        self,
        kind: str,
        method: str,
        path: str,
        *,
        htmx: bool = False,
        expect: tuple[int, ...] | None = None,
        timeout: float = PAGE_TIMEOUT,
        **kwargs,
    ) -> requests.Response | None:
        """Make one request and record it; None when it got no answer."""
        headers = {**self.headers, **kwargs.pop("headers", {})}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if htmx:
            headers["HX-Request"] = "true"
        if method == "POST":
            headers |= {"Origin": self.origin, "Referer": self.origin + path}
        expect = expect or EXPECTED[kind]
        started = time.perf_counter()
        try:
            response = self.http.request(
                method,
                self.base + path,
                headers=headers,
                allow_redirects=False,
                timeout=timeout,
                **kwargs,
            )
            response.content  # noqa: B018 (read the whole body inside the timing)
        except requests.RequestException as exc:
            ms = (time.perf_counter() - started) * 1000
            self.recorder.add(kind, ms, f"{method} {path}: {type(exc).__name__}: {exc}")
            return None
        ms = (time.perf_counter() - started) * 1000
        self.http.cookies.clear()  # kept here instead, sent whatever their Secure flag
        for header in response.raw.headers.getlist("Set-Cookie"):
            for name, morsel in SimpleCookie(header).items():
                self.cookies[name] = morsel.value
        error = None
        if response.status_code not in expect:
            where = response.headers.get("Location", "")
            error = f"{method} {path}: {response.status_code}" + (f" → {where}" if where else "")
        self.recorder.add(kind, ms, error)
        return response

    def log_in(self, email: str, password: str) -> bool:
        page = self.request(LOGIN_KIND, "GET", "/login/", expect=(200,))
        token = page is not None and _field(page.text, "csrfmiddlewaretoken")
        if not token:
            return False
        response = self.request(
            LOGIN_KIND,
            "POST",
            "/login/",
            expect=(302,),
            data={"csrfmiddlewaretoken": token, "login": email, "password": password},
        )
        return response is not None and response.status_code == 302

    def page(self, kind: str, path: str, *, htmx: bool = False) -> None:
        """A page (or a poll), then what htmx requests when a full page has loaded."""
        response = self.request(kind, "GET", path, htmx=htmx)
        if htmx or response is None or response.status_code != 200:
            return
        triggers = _Triggers()
        triggers.feed(response.text)
        for method, url, fields in triggers.on_load:
            if method == "POST":
                self.request(
                    kind_of_fragment(url),
                    "POST",
                    url,
                    htmx=True,
                    headers={"X-CSRFToken": triggers.csrf or ""},
                    data=fields,
                )
            else:
                self.request(kind_of_fragment(url), "GET", url, htmx=True)


def _field(html: str, name: str) -> str | None:
    found = re.search(rf'name="{name}" value="([^"]+)"', html)
    return found.group(1) if found else None


# --- what the people do -------------------------------------------------------------------------


@dataclass
class Person:
    email: str
    workspaces: list[str]
    upload_to: str | None = None


@dataclass
class Plan:
    """What a run does: who, for how long, with what."""

    base: str
    people: list[Person]
    password: str
    posts: dict[str, list[str]]
    seconds: float
    think: float
    video: Path | None
    seed: int = 1


class StreamedForm:
    """A ``multipart/form-data`` body of text fields and one file, read from disk block by block
    as it is sent; it has a length, so requests sends it with a ``Content-Length`` as a browser
    does (not chunked)."""

    def __init__(self, fields: list[tuple[str, str]], file_field: str, path: Path) -> None:
        boundary = uuid.uuid4().hex
        self.content_type = f"multipart/form-data; boundary={boundary}"
        head = b""
        for name, value in fields:
            head += (
                f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
            ).encode()
        head += (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{file_field}"; '
            f'filename="{path.name}"\r\nContent-Type: video/mp4\r\n\r\n'
        ).encode()
        self.head, self.path = head, path
        self.tail = f"\r\n--{boundary}--\r\n".encode()
        self.length = len(head) + path.stat().st_size + len(self.tail)

    def __len__(self) -> int:
        return self.length

    def __iter__(self):
        yield self.head
        with open(self.path, "rb") as fh:
            while block := fh.read(MB):
                yield block
        yield self.tail


def browse(
    browser: Browser,
    person: Person,
    plan: Plan,
    deadline: float,
    rng: random.Random,
    first: int,
) -> None:
    """Pages until the deadline: first one of each, from ``first`` on in the list (the people
    start at places spread over it, so even a short run sees every kind), then picked by
    weight."""
    weights = [weight for _kind, weight, _path, _htmx in PAGES]
    tour = list(PAGES[first:] + PAGES[:first])
    with_posts = [code for code in person.workspaces if plan.posts.get(code)]
    while time.monotonic() < deadline:
        kind, _weight, path, htmx = tour.pop(0) if tour else rng.choices(PAGES, weights)[0]
        workspace = rng.choice(with_posts if "{p}" in path else person.workspaces)
        post = rng.choice(plan.posts[workspace]) if "{p}" in path else ""
        browser.page(kind, path.format(w=workspace, p=post), htmx=htmx)
        pause = plan.think * rng.uniform(0.5, 1.5)
        time.sleep(max(0.0, min(pause, deadline - time.monotonic())))


def upload(browser: Browser, person: Person, plan: Plan, deadline: float, uploads: list) -> None:
    """Uploads one after another until the deadline; each sent post's code goes to ``uploads``
    (the bench checks afterwards that every one of them ended sent)."""
    compose = f"/w/{person.upload_to}/posts/new/"
    number = 0
    while time.monotonic() < deadline:
        page = browser.request("compose", "GET", compose)
        if page is None or page.status_code != 200:
            return
        platforms = re.findall(r'name="platforms" value="([^"]+)"', page.text)[:2]
        number += 1
        fields = [
            ("csrfmiddlewaretoken", _field(page.text, "csrfmiddlewaretoken") or ""),
            ("token", _field(page.text, "token") or ""),
            *[("platforms", platform) for platform in platforms],
            ("description", f"Load test upload {number} by {person.email}"),
            ("when", "now"),
            ("cover_second", "1"),
        ]
        body = StreamedForm(fields, "video", plan.video)
        answer = browser.request(
            "upload",
            "POST",
            compose,
            htmx=True,
            timeout=UPLOAD_TIMEOUT,
            data=body,
            headers={"Content-Type": body.content_type},
        )
        if answer is None or answer.status_code != 200:
            return
        # Compose sends the page on to the post's own page (htmx's client redirect).
        post_path = answer.headers.get("HX-Redirect", "") or answer.headers.get("HX-Push-Url", "")
        code = re.search(r"/posts/([0-9a-f-]{36})/", post_path)
        if not code:
            browser.recorder.error("upload", f"no post in the answer: {answer.text[:300]!r}")
            return
        uploads.append(code.group(1))
        progress = f"{post_path}progress/"
        while True:  # at least one poll, as the page makes, however late the answer came
            time.sleep(POLL_SECONDS)
            polled = browser.request("progress", "GET", progress, htmx=True)
            if polled is None or polled.status_code != 200 or time.monotonic() >= deadline:
                break  # 286: done (the bench checks how it ended), or an error (recorded)


def run_people(plan: Plan, recorder: Recorder) -> dict:
    """Log everyone in, then run them all until ``plan.seconds`` have passed. Returns the
    window's length, the logins' and the uploads' figures."""
    browsers = [
        Browser(plan.base, recorder, f"192.0.2.{number % 250 + 1}")
        for number, _person in enumerate(plan.people)
    ]
    login_started = time.monotonic()
    logged_in = [False] * len(browsers)

    def log_in(index: int) -> None:
        logged_in[index] = browsers[index].log_in(plan.people[index].email, plan.password)

    _in_threads([lambda i=i: log_in(i) for i in range(len(browsers))], limit=8)
    login_seconds = time.monotonic() - login_started

    uploads: list[str] = []
    started = time.monotonic()
    deadline = started + plan.seconds
    jobs = []
    browsing = sum(1 for person in plan.people if not person.upload_to)
    place = 0  # of this browsing person among them all
    for index, (browser, person) in enumerate(zip(browsers, plan.people, strict=True)):
        if not logged_in[index]:
            continue
        if person.upload_to:
            jobs.append(lambda b=browser, p=person: upload(b, p, plan, deadline, uploads))
        else:
            rng = random.Random(plan.seed * 1000 + index)
            first = place * len(PAGES) // browsing % len(PAGES)
            place += 1
            jobs.append(
                lambda b=browser, p=person, r=rng, f=first: browse(b, p, plan, deadline, r, f)
            )
    _in_threads(jobs, limit=len(jobs))
    window = time.monotonic() - started
    for browser in browsers:
        browser.close()
    return {
        "window_seconds": window,
        "login_seconds": login_seconds,
        "logged_in": sum(logged_in),
        "uploads": uploads,
    }


def _in_threads(jobs: list, limit: int) -> None:
    """Run every job, at most ``limit`` at once; an exception in one is raised here."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=max(1, limit)) as pool:
        for future in [pool.submit(job) for job in jobs]:
            future.result()
