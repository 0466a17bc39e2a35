"""The demo's posting history: weeks of posts and two repost rules per client workspace, made
through the sandbox's API so that the mirror and the sandbox agree.

    sandbox_for_demo(TAISLY_BASE_URL)   the sandbox that answers there, or a temporary one on
         │                              that port (`make run` seeds before honcho starts it)
         ▼
    seed_workspace(workspace)           sandbox already has posts or rules? → leave it (idempotent)
         │   else, oldest first: move the sandbox clock to the moment (POST /control/clock
         │   {"offset"}), then do what a person did then: add a rule, pause it, post a video,
         │   disconnect X; posts for later were scheduled yesterday evening. The clock goes
         │   back to real time after.
         ▼
    history_between(35 days ago … ahead) ──> history_store   the mirror read from Taisly in one
                                                             window (a new mirror's sync would
                                                             read page by page)

Every call of the story is made with the sandbox's clock at its moment, an hour ago at the latest
(posts for later were scheduled yesterday evening), and the ledger dates it then too, as Taisly
counts it: weeks of history do not use up a STARTER key's hour. What is read at real now (whether
the story exists, the platforms, the history in one window) is counted now: at most five
requests per key. Outcomes come from the sandbox's own rules: `#fail`, `#fail:<Network>`, X's
100-character caption limit, a disconnected platform, `#pending`. The sandbox is reached only
over HTTP, never imported.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import F, Max
from django.utils import timezone

from accounts.models import TaislyConnection, User, Workspace
from posting.alerts.rules import alerts_for_sync
from posting.mirror import reposts
from posting.mirror.sync import history_store, platforms_store, platforms_sync
from posting.models import Platform, Post, RepostRule, TaislyRequest
from posting.taisly.gateway import taisly_for

VIDEO = Path(__file__).with_name("video.mp4")
LOCAL = ZoneInfo("Asia/Jakarta")


@dataclass(frozen=True)
class When:
    """A moment relative to the seed's run: ``days`` from today at ``hour``:``minute`` Jakarta
    time, or ``minutes`` from now when given (for "a moment ago")."""

    days: int = 0
    hour: int = 10
    minute: int = 0
    minutes: int | None = None

    def moment(self, now: datetime) -> datetime:
        if self.minutes is not None:
            return now + timedelta(minutes=self.minutes)
        local = now.astimezone(LOCAL) + timedelta(days=self.days)
        return local.replace(hour=self.hour, minute=self.minute, second=0, microsecond=0)


@dataclass(frozen=True)
class PostSeed:
    when: When
    networks: tuple[str, ...]
    description: str


#: When the scheduled (future) posts were planned: yesterday evening, well before this hour.
PLANNED = When(-1, 21)
#: The story ends this long before the seed runs at the latest: the key's hour is left free.
HOUR_LEFT_FREE = timedelta(minutes=65)


@dataclass(frozen=True)
class RuleSeed:
    when: When
    source: str
    targets: tuple[str, ...]
    paused: When | None = None


@dataclass(frozen=True)
class ConnectionSeed:
    """A platform (re)connected or disconnected in Taisly's app at ``when``."""

    when: When
    network: str
    connected: bool


@dataclass(frozen=True)
class History:
    posts: tuple[PostSeed, ...]
    rules: tuple[RuleSeed, ...]
    connections: tuple[ConnectionSeed, ...] = field(default=())


def _p(days: int, hour: int, networks: str, description: str, minute: int = 0) -> PostSeed:
    return PostSeed(When(days, hour, minute), tuple(networks.split(",")), description)


KOPI_SENJA = History(
    rules=(
        RuleSeed(When(-25, 9), "TikTok", ("Instagram",)),
        RuleSeed(When(-25, 9, 5), "YouTube", ("TikTok",), paused=When(-9, 16)),
    ),
    posts=(
        _p(-24, 10, "TikTok,YouTube", "Es kopi susu gula aren: cara kami menyeduhnya tiap pagi"),
        _p(-23, 19, "TikTok", "Latte art battle: barista Senja vs barista Pagi #latteart"),
        _p(-22, 12, "Instagram,YouTube", "Biji kopi baru dari Gayo, Aceh. Cicipi minggu ini!"),
        _p(-21, 17, "TikTok,Instagram,YouTube", "Promo senja: beli 2 gratis 1 #fail:TikTok"),
        _p(-20, 11, "YouTube", "Behind the bar: roasting day di Kopi Senja"),
        _p(-18, 8, "TikTok", "Manual brew V60 dalam 60 detik #kopi"),
        _p(-17, 20, "TikTok,YouTube", "Kopi tubruk vs kopi saring: mana favoritmu?"),
        _p(-16, 13, "Instagram", "Sudut baru di lantai dua, cocok untuk kerja #fail"),
        _p(-14, 9, "TikTok,Instagram", "Pastry baru: croissant pandan"),
        _p(-13, 18, "YouTube,TikTok", "Cold brew 18 jam: proses lengkapnya #fail:YouTube"),
        _p(-11, 16, "TikTok", "Playlist senja kami untuk menemani sore"),
        _p(-10, 10, "Instagram,YouTube", "Kelas seduh kopi untuk pemula, daftar sekarang"),
        _p(-8, 15, "YouTube", "Kunjungan ke kebun kopi di Temanggung"),
        _p(
            -7, 12, "TikTok,Instagram,YouTube", "Menu musim hujan: wedang kopi jahe #fail:Instagram"
        ),
        _p(-5, 19, "TikTok", "Tebak harga secangkir kopi di tahun 1990"),
        _p(-3, 11, "TikTok,YouTube", "Barista kami menjawab pertanyaan kalian"),
        _p(-2, 17, "Instagram", "Kopi Senja ulang tahun ke-3: terima kasih! #fail"),
        _p(-1, 9, "TikTok,Instagram,YouTube", "Rahasia crema yang sempurna"),
        PostSeed(When(minutes=-80), ("TikTok", "Instagram"), "Live dari bar sore ini #pending"),
        _p(1, 9, "TikTok,Instagram", "Promo Jumat: beli 2 gratis 1 mulai besok pagi"),
        _p(2, 18, "YouTube", "Tutorial: kopi susu kekinian di rumah"),
        _p(4, 10, "TikTok,Instagram,YouTube", "Grand opening cabang baru di Bandung!"),
    ),
)

BATIK_NUSANTARA = History(
    # X was connected until last week; the TikTok → X rule was paused when it went.
    connections=(
        ConnectionSeed(When(-27, 8), "X", True),
        ConnectionSeed(When(-6, 14), "X", False),
    ),
    rules=(
        RuleSeed(When(-26, 9), "Instagram", ("Facebook",)),
        RuleSeed(When(-26, 9, 5), "TikTok", ("X",), paused=When(-6, 14, 5)),
    ),
    posts=(
        _p(-25, 10, "TikTok,Instagram", "Batik tulis Pekalongan: 3 minggu untuk satu kain"),
        _p(-24, 19, "X,Facebook", "Motif parang: makna di balik garis miring"),
        _p(
            -23,
            13,
            "Instagram,YouTube",
            "Dari canting ke kain: proses membatik dari awal sampai akhir, direkam di workshop "
            "kami di Solo bersama pembatik yang sudah berkarya lebih dari tiga puluh tahun",
        ),
        _p(
            -22,
            18,
            "TikTok",
            "Koleksi Sekar Jagad untuk musim pernikahan, tersedia dalam sutra dan katun. Pesan "
            "lewat tautan di bio #batik",
        ),
        _p(
            -20,
            11,
            "X,TikTok,Instagram",
            "Hari Batik Nasional sudah dekat! Ceritakan batik favoritmu di kolom komentar dan "
            "menangkan satu kain batik tulis asli",
        ),
        _p(
            -19, 16, "YouTube,Facebook", "Cara merawat kain batik agar warnanya awet #fail:Facebook"
        ),
        _p(-17, 12, "Instagram", "Lookbook kebaya modern x batik"),
        _p(-16, 20, "TikTok,YouTube", "Tutorial: kain batik jadi rok lilit dalam 30 detik"),
        _p(-15, 23, "X", "Flash sale 12.12 mulai tengah malam!"),
        _p(-13, 10, "Instagram,TikTok", "Kenalan dengan Bu Siti, pembatik kami #fail:TikTok"),
        _p(-12, 15, "YouTube", "Sejarah batik Lasem dalam lima menit"),
        _p(-10, 9, "Facebook,Instagram", "Batik cap vs batik tulis: bedanya apa?"),
        _p(-8, 19, "TikTok,X", "Motif baru: Mega Mendung biru laut"),
        _p(-5, 12, "TikTok,Instagram,X", "Diskon akhir tahun sampai 40% untuk semua kain"),
        _p(-4, 17, "YouTube,Facebook", "Di balik layar pemotretan koleksi 2027 #fail"),
        _p(-2, 11, "Instagram,TikTok", "Pilihan batik untuk kado akhir tahun"),
        _p(-1, 20, "TikTok,YouTube,Facebook", "Terima kasih 100 ribu pengikut!"),
        PostSeed(When(minutes=-70), ("Instagram", "Facebook"), "Koleksi Imlek segera #pending"),
        _p(1, 10, "Instagram,TikTok", "Koleksi Imlek: teaser pertama"),
        _p(3, 9, "YouTube,Facebook", "Workshop membatik untuk umum, Sabtu ini"),
        _p(5, 19, "TikTok,Instagram,YouTube,Facebook", "Peluncuran koleksi Imlek 2027"),
    ),
)

HISTORIES = {"Kopi Senja": KOPI_SENJA, "Batik Nusantara": BATIK_NUSANTARA}


# --- The sandbox's control API --------------------------------------------------------------


class SandboxControl:
    """``/control/`` of the sandbox behind ``base_url`` (``…/api/private``), over HTTP."""

    def __init__(self, base_url: str) -> None:
        self.root = base_url.rstrip("/").removesuffix("/api/private")

    def answers(self) -> bool:
        try:
            self._call("GET", "state")
        except (OSError, ValueError):
            return False
        return True

    def clock_offset(self, seconds: float) -> None:
        self._call("POST", "clock", {"offset": seconds})

    def clock_reset(self) -> None:
        self._call("POST", "clock", {"reset": True})

    def connect(self, platform_id: str, connected: bool) -> None:
        self._call("POST", "platforms", {"id": platform_id, "connected": connected})

    def _call(self, method: str, path: str, body: dict | None = None) -> dict:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(  # noqa: S310 (the configured local sandbox, http only)
            f"{self.root}/control/{path}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json", "Accept": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return json.load(response)


@contextmanager
def sandbox_for_demo(base_url: str) -> Iterator[SandboxControl | None]:
    """The sandbox answering at ``base_url``; if none does and the URL is this machine's, a
    temporary one on that port for as long as the block runs (it uses the same sandbox database,
    so what it makes stays). None when neither is possible."""
    control = SandboxControl(base_url)
    if control.answers():
        yield control
        return
    parts = urlsplit(base_url)
    if parts.scheme != "http" or parts.hostname not in ("127.0.0.1", "localhost") or not parts.port:
        yield None
        return
    process = subprocess.Popen(  # noqa: S603 (our own manage.py, fixed arguments)
        [
            sys.executable,
            str(Path(settings.BASE_DIR) / "manage.py"),
            "sandbox",
            "--addrport",
            f"127.0.0.1:{parts.port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while process.poll() is None and time.monotonic() < deadline:
            if control.answers():
                break
            time.sleep(0.2)
        yield control if process.poll() is None and control.answers() else None
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# --- Seeding ---------------------------------------------------------------------------------

#: How far back the story goes (its oldest event is 27 days ago), with a margin.
STORY_DAYS = 35


def _fingerprint(workspace: Workspace) -> str:
    return (
        TaislyConnection.objects.filter(workspace=workspace)
        .values_list("key_fingerprint", flat=True)
        .first()
        or ""
    )


def _ledger_mark() -> int:
    return TaislyRequest.objects.aggregate(last=Max("pk"))["last"] or 0


def _ledger_at_sandbox_clock(fingerprint: str, since: int, offset: timedelta) -> None:
    """Date the requests just made for this key (ledger rows after ``since``) at the sandbox's
    clock, ``offset`` from real time: when Taisly counted them. The ledger then tells the
    governor what Taisly will: that these did not happen in the current hour."""
    if fingerprint:
        TaislyRequest.objects.filter(pk__gt=since, fingerprint=fingerprint).update(
            started_at=F("started_at") + offset
        )


def seed_workspace(
    *, workspace: Workspace, actor: User, history: History, control: SandboxControl
) -> str:
    """Make ``history`` at the sandbox unless its account has posts or rules already, then fill
    the mirror from it. Returns a line for the command's output.

    At most five requests in the key's current hour (the rest happen on the sandbox's clock,
    see ``_make``): the look whether the story exists (one or two), the platforms (one, when it
    does not) and the history (one window, however many posts: not a page backfill).
    """
    with taisly_for(workspace) as client:
        made_before = bool(client.history(page=1).posts or client.reposts())
        if not made_before:
            platforms_store(workspace=workspace, platforms=client.platforms())
    if not made_before:
        _make(workspace=workspace, actor=actor, history=history, control=control)
    elif not (
        Platform.objects.filter(workspace=workspace).exists()
        and RepostRule.objects.filter(workspace=workspace).exists()
    ):
        # The story is there but the mirror lacks it (a first run cut short): read it too.
        platforms_sync(workspace=workspace)
        reposts.reposts_sync(workspace=workspace, actor=None)

    # The history, read from Taisly in one window that covers the whole story.
    now = timezone.now()
    start = now - timedelta(days=STORY_DAYS)
    end = now + timedelta(days=settings.POSTING_SYNC_AHEAD_DAYS)
    with taisly_for(workspace) as client:
        posts = client.history_between(start, end)
    history_store(workspace=workspace, posts=posts, start=start, end=end, now=now)
    alerts_for_sync(workspace)
    posts = Post.objects.filter(workspace=workspace).count()
    rules = RepostRule.objects.filter(workspace=workspace).count()
    how = "already at the sandbox" if made_before else "made through the sandbox now"
    return f"{workspace.name}: {posts} posts and {rules} repost rules in the mirror ({how})."


def _make(*, workspace: Workspace, actor: User, history: History, control: SandboxControl) -> None:
    now = timezone.now()
    events: list[tuple[datetime, Callable[[], None]]] = []

    def platforms() -> dict[str, Platform]:
        # Read again each time: a connection change updates the mirror on the way.
        return {
            p.network: p for p in Platform.objects.filter(workspace=workspace, gone_at__isnull=True)
        }

    made: dict[int, RepostRule] = {}

    def connection(seed: ConnectionSeed) -> Callable[[], None]:
        def act() -> None:
            control.connect(platforms()[seed.network].taisly_id, seed.connected)
            platforms_sync(workspace=workspace)

        return act

    def rule_add(index: int, seed: RuleSeed) -> Callable[[], None]:
        def act() -> None:
            by_network = platforms()
            made[index] = reposts.repost_add(
                workspace=workspace,
                actor=actor,
                from_platform=by_network[seed.source],
                to_platforms=[by_network[n] for n in seed.targets],
            ).rule

        return act

    def rule_pause(index: int) -> Callable[[], None]:
        def act() -> None:
            reposts.repost_pause(workspace=workspace, actor=actor, rule=made[index])

        return act

    def post(seed: PostSeed, moment: datetime) -> Callable[[], None]:
        def act() -> None:
            by_network = platforms()
            with taisly_for(workspace) as client:
                client.create_post(
                    VIDEO,
                    platforms=[by_network[n].taisly_id for n in seed.networks],
                    description=seed.description,
                    preview_time=1,
                    scheduled=moment if moment > now else None,
                )

        return act

    for seed in history.connections:
        events.append((seed.when.moment(now), connection(seed)))
    for index, seed in enumerate(history.rules):
        events.append((seed.when.moment(now), rule_add(index, seed)))
        if seed.paused is not None:
            events.append((seed.paused.moment(now), rule_pause(index)))
    for seed in history.posts:
        moment = seed.when.moment(now)
        # A post for later was scheduled yesterday evening (PLANNED), not during this hour.
        events.append((min(moment, PLANNED.moment(now)), post(seed, moment)))

    final = {seed.network: seed.connected for seed in history.connections}
    fingerprint = _fingerprint(workspace)
    try:
        for moment, act in sorted(events, key=lambda event: event[0]):
            # Everything happens on the sandbox's clock at its moment, an hour ago at the latest:
            # Taisly counts each request then, so the key's current hour is left to the people
            # trying the demo.
            moment = min(moment, now - HOUR_LEFT_FREE)
            offset = moment - timezone.now()
            control.clock_offset(offset.total_seconds())
            since = _ledger_mark()
            act()
            _ledger_at_sandbox_clock(fingerprint, since, offset)
    finally:
        control.clock_reset()
        by_network = platforms()
        for network, connected in final.items():  # as the story ends, even after a failure
            control.connect(by_network[network].taisly_id, connected)
