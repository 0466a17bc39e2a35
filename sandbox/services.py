"""What the fake Taisly does. Views parse and answer; these functions decide and write."""

from __future__ import annotations

import hashlib
import math
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connections, transaction

from sandbox import clock
from sandbox.errors import bad_request, invalid_key, not_found
from sandbox.models import (
    Account,
    ApiCall,
    ApiKey,
    Network,
    Plan,
    Platform,
    Post,
    PostResult,
    RepostRule,
)
from sandbox.probe import OK

DB = "sandbox"
PAGE_SIZE = 10
KEY_PATTERN = re.compile(r"taisly_[0-9a-f]{64}")
# `#fail` on its own fails every platform; `#fail:TikTok` only that network (any letter case).
FAIL_ALL = re.compile(r"#fail(?![\w:])", re.IGNORECASE)
FAIL_ONE = re.compile(r"#fail:(\w+)", re.IGNORECASE)
# `#pending` keeps every platform of the post PENDING: a post Taisly never gets round to.
HOLD = re.compile(r"#pending(?![\w:])", re.IGNORECASE)
_NETWORKS = {network.value.lower(): Network(network) for network in Network}
# Per-network caption limits below the API's own 2,200 (views.MAX_DESCRIPTION): X allows 100
# characters (the Agent Kit's platform schema). A longer caption fails only on that network.
NETWORK_DESCRIPTION_LIMITS = {Network.X: 100}


# --- Accounts and keys ----------------------------------------------------------------------


def network_named(name: str) -> Network:
    try:
        return _NETWORKS[name.strip().lower()]
    except KeyError:
        raise bad_request(
            "INVALID_PLATFORM",
            f"Unknown network {name!r}: use one of {', '.join(n.value for n in Network)}.",
        ) from None


def account_create(
    *, plan: str, networks: Sequence[str], disconnected: Sequence[str] = ()
) -> tuple[Account, str]:
    """A new account with one platform per network named, and its first key (returned once)."""
    try:
        plan = Plan(plan.strip().upper())
    except ValueError:
        raise bad_request(
            "INVALID_PLAN", f"Unknown plan {plan!r}: use one of {', '.join(Plan.values)}."
        ) from None
    wanted = [network_named(name) for name in networks]
    offline = {network_named(name) for name in disconnected}
    if offline - set(wanted):
        missing = ", ".join(sorted(n.value for n in offline - set(wanted)))
        raise bad_request("INVALID_PLATFORM", f"Cannot disconnect {missing}: not in the platforms.")

    moment = clock.now()
    with transaction.atomic(using=DB):
        account = Account.objects.create(plan=plan, created_at=moment)
        seen: dict[Network, int] = {}
        for network in wanted:
            seen[network] = seen.get(network, 0) + 1
            suffix = f"_{seen[network]}" if seen[network] > 1 else ""
            Platform.objects.create(
                account=account,
                network=network,
                name=f"@demo_{network.value.lower()}{suffix}",
                connected=network not in offline,
            )
        _key, plaintext = key_issue(account=account)
    return account, plaintext


def hash_key(plaintext: str) -> str:
    # Keys are 256 random bits, so a plain sha256 cannot be brute-forced; no salt is needed.
    return hashlib.sha256(plaintext.encode()).hexdigest()


def key_issue(*, account: Account, replacing: ApiKey | None = None) -> tuple[ApiKey, str]:
    """Revoke the account's current key and issue a new one.

    ``replacing`` is the key the request came with: it must still be live when the lock is held,
    else 401. Two regenerations racing with one key would otherwise both "succeed", and the
    loser would hand its caller a key the winner had already revoked.
    """
    plaintext = "taisly_" + secrets.token_hex(32)
    with transaction.atomic(using=DB):
        _lock(account)
        moment = clock.now()
        live = ApiKey.objects.filter(account=account, revoked_at__isnull=True)
        if replacing is not None and not live.filter(pk=replacing.pk).exists():
            raise invalid_key()
        live.update(revoked_at=moment)
        key = ApiKey.objects.create(
            account=account,
            key_hash=hash_key(plaintext),
            last4=plaintext[-4:],
            created_at=moment,
        )
    return key, plaintext


def key_find(plaintext: str) -> ApiKey | None:
    if not KEY_PATTERN.fullmatch(plaintext):
        return None
    return (
        ApiKey.objects.select_related("account")
        .filter(key_hash=hash_key(plaintext), revoked_at__isnull=True)
        .first()
    )


def key_revoke(*, key: ApiKey) -> None:
    """Revoke ``key``; 401 when a concurrent regeneration or revocation got there first."""
    revoked = ApiKey.objects.filter(pk=key.pk, revoked_at__isnull=True).update(
        revoked_at=clock.now()
    )
    if not revoked:
        raise invalid_key()


def _lock(account: Account) -> None:
    """Serialise writes for one account until the surrounding transaction ends.

    PostgreSQL locks the account row. SQLite has no row locks, but the sandbox's SQLite
    connections open every transaction with BEGIN IMMEDIATE (``transaction_mode`` in settings),
    which takes the database's write lock up front.
    """
    if connections[DB].features.has_select_for_update:
        Account.objects.select_for_update().filter(pk=account.pk).first()


def call_record(*, key: ApiKey) -> int | None:
    """Count one API call against the account's sliding window.

    Returns None when the call may proceed, else the seconds until the oldest counted call leaves
    the window (the call is then not counted). The lock makes check-and-count one step, so
    concurrent calls cannot all see room for one more.
    """
    account = key.account
    window = timedelta(seconds=settings.SANDBOX_RATE_WINDOW_SECONDS)
    with transaction.atomic(using=DB):
        _lock(account)
        moment = clock.now()
        since = moment - window
        counted = ApiCall.objects.filter(account=account, at__gt=since)
        if counted.count() >= account.rate_limit:
            # Tidy up here, off the common path: calls that left the window count for nothing.
            ApiCall.objects.filter(account=account, at__lte=since).delete()
            oldest = counted.order_by("at").values_list("at", flat=True).first()
            return max(1, math.ceil((oldest + window - moment).total_seconds()))
        ApiCall.objects.create(account=account, at=moment)
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=moment)
    return None


# --- Platforms and posts --------------------------------------------------------------------


def platforms_for(*, account: Account, ids: Sequence[str]) -> list[Platform]:
    """The account's platforms with these ids, in order, without repeats; 400 on any unknown."""
    unique = list(dict.fromkeys(ids))
    found = {p.object_id: p for p in Platform.objects.filter(account=account, object_id__in=unique)}
    unknown = [platform_id for platform_id in unique if platform_id not in found]
    if unknown:
        raise bad_request("PLATFORM_NOT_FOUND", f"No connected platform with id {unknown[0]!r}.")
    return [found[platform_id] for platform_id in unique]


def forced_failure(description: str, network: str) -> bool:
    if FAIL_ALL.search(description):
        return True
    return any(name.lower() == network.lower() for name in FAIL_ONE.findall(description))


def post_create(
    *,
    account: Account,
    platforms: Sequence[Platform],
    description: str,
    preview_time: float,
    scheduled_ms: int | None,
    probe_code: str,
    video_name: str = "",
    video_size: int = 0,
) -> Post:
    """Record a post and decide now how each platform will end once it is published.

    A scheduled time at or before now counts as "post now" (scheduled false, no scheduledAt).
    Platforms that are the source of an active repost rule fan out once to the rule's targets,
    in the same post, marked with repostOf. Fan-out is one level deep: reposts are not reposted.
    """
    moment = clock.now()
    scheduled = scheduled_ms is not None and scheduled_ms > clock.to_ms(moment)
    due = clock.from_ms(scheduled_ms) if scheduled else moment

    targets: list[tuple[Platform, Platform | None]] = [(p, None) for p in platforms]
    taken = {p.pk for p in platforms}
    owned = {p.object_id: p for p in Platform.objects.filter(account=account)}
    rules = RepostRule.objects.filter(
        account=account, is_paused=False, from_platform__in=list(platforms)
    ).select_related("from_platform")
    by_source: dict[int, list[RepostRule]] = {}
    for rule in rules:
        by_source.setdefault(rule.from_platform_id, []).append(rule)
    for source in platforms:
        for rule in by_source.get(source.pk, []):
            for target_id in rule.to_ids:
                target = owned.get(target_id)
                if target is not None and target.pk not in taken:
                    targets.append((target, source))
                    taken.add(target.pk)

    with transaction.atomic(using=DB):
        post = Post.objects.create(
            account=account,
            description=description,
            created_at=moment,
            due_at=due,
            scheduled=scheduled,
            scheduled_at_ms=scheduled_ms if scheduled else None,
            preview_time=preview_time,
            probe_code=probe_code,
            video_name=video_name[:255],
            video_size=video_size,
        )
        PostResult.objects.bulk_create(
            PostResult(
                post=post,
                platform=platform,
                repost_of=source,
                failure=_failure(probe_code, platform, description),
            )
            for platform, source in targets
        )
    return post


def _failure(probe_code: str, platform: Platform, description: str) -> str:
    if probe_code != OK:
        return probe_code
    if not platform.connected:
        return "PLATFORM_DISCONNECTED"
    limit = NETWORK_DESCRIPTION_LIMITS.get(platform.network)
    if limit is not None and len(description) > limit:
        return "DESCRIPTION_TOO_LONG"
    if forced_failure(description, platform.network):
        return "SANDBOX_FORCED_FAILURE"
    return ""


def result_status(result: PostResult, post: Post, now: datetime) -> tuple[str, str | None]:
    """PENDING until due time + SANDBOX_PUBLISH_SECONDS, then SUCCESS or FAILED with its code.

    A post tagged ``#pending`` stays PENDING for good.
    """
    published_at = post.due_at + timedelta(seconds=settings.SANDBOX_PUBLISH_SECONDS)
    if now < published_at or HOLD.search(post.description):
        return "PENDING", None
    if result.failure:
        return "FAILED", result.failure
    return "SUCCESS", None


def _history(account: Account):
    return (
        Post.objects.filter(account=account)
        .order_by("-due_at", "-pk")
        .prefetch_related("results__platform", "results__repost_of")
    )


@dataclass
class HistoryPage:
    posts: list[Post]
    page: int
    total_pages: int
    total: int


def post_history_page(*, account: Account, page: int) -> HistoryPage:
    """Newest first by due time, PAGE_SIZE a page; a page past the end is empty.

    totalPages is at least 1, so "page 1 of 1" also describes an empty history.
    """
    total = Post.objects.filter(account=account).count()
    start = (page - 1) * PAGE_SIZE
    posts = list(_history(account)[start : start + PAGE_SIZE])
    return HistoryPage(posts, page, max(1, math.ceil(total / PAGE_SIZE)), total)


def post_history_range(*, account: Account, start_ms: int, end_ms: int) -> list[Post]:
    """Every post due within [start, end] (both inclusive), newest first."""
    return list(
        _history(account).filter(
            due_at__gte=clock.from_ms(start_ms), due_at__lte=clock.from_ms(end_ms)
        )
    )


def post_cancel(*, account: Account, object_id: str) -> None:
    """Delete a post that is scheduled and not yet due; refuse any other."""
    post = Post.objects.filter(account=account, object_id=object_id).first()
    if post is None:
        raise not_found("POST_NOT_FOUND", f"No post with id {object_id!r}.")
    # Conditional delete: the post cannot become due between the check and the delete.
    deleted, _ = Post.objects.filter(pk=post.pk, scheduled=True, due_at__gt=clock.now()).delete()
    if not deleted:
        raise bad_request(
            "POST_NOT_SCHEDULED", "Only a scheduled post that is not yet due can be cancelled."
        )


# --- Repost rules ---------------------------------------------------------------------------


def repost_add(*, account: Account, from_id: str, to_ids: Sequence[str]) -> RepostRule:
    source = platforms_for(account=account, ids=[from_id])[0]
    targets = platforms_for(account=account, ids=to_ids)
    target_ids = [p.object_id for p in targets]
    if source.object_id in target_ids:
        raise bad_request("REPOST_TO_SELF", "A platform cannot repost to itself.")
    # Check and create under the account's lock: two requests adding A→B and B→A at the same
    # time must not both pass the check.
    with transaction.atomic(using=DB):
        _lock(account)
        # A→B is refused while any rule B→…A… exists (paused or not: resuming it would loop).
        for rule in RepostRule.objects.filter(account=account, from_platform__in=targets):
            if source.object_id in rule.to_ids:
                raise bad_request(
                    "CIRCULAR_REPOST",
                    "This rule would repost in a circle with an existing rule.",
                )
        return RepostRule.objects.create(
            account=account, from_platform=source, to_ids=target_ids, created_at=clock.now()
        )


def repost_get(*, account: Account, object_id: str) -> RepostRule:
    rule = (
        RepostRule.objects.filter(account=account, object_id=object_id)
        .select_related("from_platform")
        .first()
    )
    if rule is None:
        raise not_found("REPOST_NOT_FOUND", f"No repost rule with id {object_id!r}.")
    return rule


def repost_delete(*, account: Account, object_id: str) -> None:
    repost_get(account=account, object_id=object_id).delete()


def repost_pause(*, account: Account, object_id: str, is_paused: bool) -> RepostRule:
    rule = repost_get(account=account, object_id=object_id)
    rule.is_paused = is_paused
    rule.save(update_fields=["is_paused"])
    return rule
