"""Auto-repost rules: the mirror of Taisly's rules, and adding, pausing, resuming, deleting them.

    view ──> repost_add(workspace, actor, from, to) ─┬─ atomic ─ lock the actor's membership
                                                     │          (still owner or editor? else 403)
                                                     │  ─ refuse B→A while A→B is mirrored
                                                     │  ─ warn about a longer circle (confirm)
                                                     ├─ taisly_for ──> POST /repost/add (no lock)
                                                     └─ atomic ─ lock and check the role again
                                                        ─ mirror row + audit from Taisly's answer
             <── RepostActionError(sentence): a refusal, Taisly's 400, 429, 401, outage, timeout

No database transaction is held open while Taisly is called (as in the key actions): on
SQLite a write transaction locks the whole file, and a slow Taisly would stall every request.
So authority is decided twice, each time with the actor's membership row locked
(``accounts.access.lock_actor_role``): in a short transaction right before the call (a demoted
editor never reaches Taisly), and again in the transaction that stores Taisly's answer (one
demoted while the call was under way stores nothing and is refused; the next sync mirrors what
Taisly did). What the gateway records about the key (a 429's ``blocked_until``, a 401's
"invalid") is written by the gateway itself, outside any of these transactions.

    view ─▶ lock+check (+ circle checks) ─▶ Taisly ─▶ lock+check ─▶ mirror + audit
              │ refused: nothing asked                 │ refused: nothing stored

Pages read the mirror only; ``reposts_sync`` costs one request.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from django.db import transaction
from django.db.models import Prefetch
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.access import lock_writer
from accounts.audit import audit_record
from accounts.models import AuditEvent, User, Workspace
from posting import taisly
from posting.models import MirrorState, Platform, RepostRule
from posting.taisly import TaislyClient, TaislyRejected
from posting.taisly.gateway import TaislyActionError, taisly_for

T = TypeVar("T")

#: Taisly's machine codes for a refused rule, and what each means for the person.
CIRCULAR = "CIRCULAR_REPOST"


class RepostActionError(Exception):
    """A repost action did not happen; ``message`` says why, in the user's language."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class RepostCycleWarning(RepostActionError):
    """The rule would close a circle of three or more platforms: asked again with
    ``confirm_cycle=True`` it is added. ``cycle`` lists the platforms round the circle."""

    def __init__(self, message: str, *, cycle: list[Platform]) -> None:
        super().__init__(message)
        self.cycle = cycle


@dataclass(frozen=True)
class RepostOutcome:
    #: The rule as now mirrored (None once deleted).
    rule: RepostRule | None
    #: What happened, in one translated sentence.
    message: str


# --- Reading ---------------------------------------------------------------------------------


def reposts_for_page(workspace: Workspace) -> list[RepostRule]:
    """The mirrored rules with their platforms and maker: three queries, whatever the count."""
    return list(
        RepostRule.objects.filter(workspace=workspace)
        .select_related("from_platform", "created_by")
        .prefetch_related(Prefetch("to_platforms", queryset=Platform.objects.order_by("network")))
        .order_by("created_at", "id")
    )


def platform_label(platform: Platform) -> str:
    """``TikTok @name``, or the bare id of a platform Taisly has not described to us."""
    if not platform.network:
        return _("unknown account %(id)s") % {"id": platform.taisly_id}
    return f"{platform.network} {platform.name}".strip()


# --- Mirror ----------------------------------------------------------------------------------


def reposts_store(*, workspace: Workspace, rules: Iterable[taisly.RepostRule]) -> list[RepostRule]:
    """Make the mirror hold exactly ``rules`` (Taisly's full list): upsert each, delete the
    ones Taisly no longer has. A platform id the mirror does not know yet gets a placeholder
    (marked gone until a platform sync lists it). Who made a rule here is kept."""
    rules = list(rules)
    now = timezone.now()
    with transaction.atomic():
        platforms = _platforms_by_id(
            workspace, [pid for r in rules for pid in (r.from_platform, *r.to_platforms)]
        )
        stored = [_store_one(workspace, rule, platforms, now) for rule in rules]
        RepostRule.objects.filter(workspace=workspace).exclude(
            taisly_id__in=[r.id for r in rules]
        ).delete()
        MirrorState.objects.update_or_create(
            workspace=workspace, defaults={"reposts_synced_at": now}
        )
    return stored


def _platforms_by_id(workspace: Workspace, ids: Iterable[str]) -> dict[str, Platform]:
    """The workspace's platforms by Taisly id; an id never seen gets a placeholder, marked gone
    like posting.mirror.sync's (a platform sync describes and revives it if Taisly lists it)."""
    now = timezone.now()
    wanted = set(ids)
    found = {
        p.taisly_id: p for p in Platform.objects.filter(workspace=workspace, taisly_id__in=wanted)
    }
    missing = wanted - found.keys()
    if missing:
        # ignore_conflicts: a concurrent platform sync may insert the same id meanwhile.
        Platform.objects.bulk_create(
            [
                Platform(
                    workspace=workspace,
                    taisly_id=pid[:64],
                    network="",
                    connected=False,
                    gone_at=now,
                    first_seen_at=now,
                    last_seen_at=now,
                )
                for pid in sorted(missing)
            ],
            ignore_conflicts=True,
        )
        found |= {
            p.taisly_id: p
            for p in Platform.objects.filter(workspace=workspace, taisly_id__in=missing)
        }
    return found


def _store_one(
    workspace: Workspace,
    rule: taisly.RepostRule,
    platforms: dict[str, Platform],
    now,
    *,
    created_by: User | None = None,
) -> RepostRule:
    defaults = {
        "from_platform": platforms[rule.from_platform],
        "paused": rule.paused,
        "last_seen_at": now,
    }
    create_defaults = {**defaults, "created_at": rule.created_at or now, "created_by": created_by}
    row, _created = RepostRule.objects.update_or_create(
        workspace=workspace,
        taisly_id=rule.id,
        defaults=defaults,
        create_defaults=create_defaults,
    )
    targets = [platforms[pid] for pid in rule.to_platforms if pid in platforms]
    row.to_platforms.set(targets)
    return row


# --- Services --------------------------------------------------------------------------------


def reposts_sync(*, workspace: Workspace, actor: User | None) -> list[RepostRule]:
    """Read Taisly's rules (one request) into the mirror. ``actor`` None: the system (demo,
    background); a person must be able to write, since the request spends the key's quota."""
    if actor is not None:
        with transaction.atomic():
            lock_writer(workspace=workspace, actor=actor)
    try:
        with taisly_for(workspace) as client:
            rules = client.reposts()
    except TaislyActionError as exc:
        raise RepostActionError(
            _("%(reason)s The repost rules were not synced.") % {"reason": exc.message}
        ) from None
    with transaction.atomic():
        if actor is not None:
            lock_writer(workspace=workspace, actor=actor)
        return reposts_store(workspace=workspace, rules=rules)


def repost_add(
    *,
    workspace: Workspace,
    actor: User,
    from_platform: Platform,
    to_platforms: Sequence[Platform],
    confirm_cycle: bool = False,
) -> RepostOutcome:
    """Ask Taisly for a rule: what is posted to ``from_platform`` is reposted to ``to_platforms``.

    Refused here, before Taisly is asked: a platform reposting to itself, a platform that is not
    this workspace's or cannot be posted to, and A→B while a mirrored rule goes B→A (Taisly
    refuses those too, at the cost of a request). A rule closing a longer circle raises
    ``RepostCycleWarning`` unless ``confirm_cycle``.
    """
    targets = list(dict.fromkeys(to_platforms))
    if not targets:
        raise RepostActionError(_("Choose at least one account to repost to."))
    if from_platform in targets:
        raise RepostActionError(_("An account cannot repost to itself."))

    with transaction.atomic():
        lock_writer(workspace=workspace, actor=actor)
        ids = [from_platform.pk, *(p.pk for p in targets)]
        usable = {
            p.pk: p
            for p in Platform.objects.filter(
                workspace=workspace, pk__in=ids, connected=True, gone_at__isnull=True
            )
        }
        if len(usable) != len(ids):
            raise RepostActionError(
                _(
                    "Only this workspace's connected accounts can be used in a rule. Sync the "
                    "accounts and try again."
                )
            )
        rules = list(
            RepostRule.objects.filter(workspace=workspace)
            .select_related("from_platform")
            .prefetch_related("to_platforms")
        )
        _refuse_direct_circle(rules, from_platform, targets)
        cycle = find_cycle(rules, from_platform, targets)
        if cycle and not confirm_cycle:
            raise RepostCycleWarning(_cycle_sentence(cycle), cycle=cycle)

    # No transaction (and so no lock) while Taisly answers.
    try:
        with taisly_for(workspace) as client:
            answer = client.repost_add(from_platform.taisly_id, [p.taisly_id for p in targets])
    except TaislyActionError as exc:
        raise RepostActionError(_add_failure_sentence(exc)) from None

    with transaction.atomic():
        lock_writer(workspace=workspace, actor=actor)  # demoted meanwhile: nothing stored
        platforms = _platforms_by_id(workspace, [answer.from_platform, *answer.to_platforms])
        rule = _store_one(workspace, answer, platforms, timezone.now(), created_by=actor)
        audit_record(
            workspace=workspace,
            actor=actor,
            action=AuditEvent.Action.REPOST_ADDED,
            target=rule.taisly_id,
            details={
                "from": platform_label(from_platform),
                "to": [platform_label(p) for p in targets],
                **({"circle_confirmed": True} if cycle else {}),
            },
        )
    return RepostOutcome(
        rule=rule,
        message=_("Rule added: posts to %(source)s are now reposted to %(targets)s.")
        % {"source": platform_label(from_platform), "targets": _joined(targets)},
    )


def repost_pause(*, workspace: Workspace, actor: User, rule: RepostRule) -> RepostOutcome:
    """Pause ``rule`` at Taisly: posts to its source are no longer reposted."""
    return _set_paused(workspace=workspace, actor=actor, rule=rule, paused=True)


def repost_resume(*, workspace: Workspace, actor: User, rule: RepostRule) -> RepostOutcome:
    """Resume ``rule`` at Taisly."""
    return _set_paused(workspace=workspace, actor=actor, rule=rule, paused=False)


def repost_delete(*, workspace: Workspace, actor: User, rule: RepostRule) -> RepostOutcome:
    """Delete ``rule`` at Taisly and from the mirror. A rule Taisly no longer has (deleted in
    its app) leaves the mirror too, and the sentence says so."""

    def act(client: TaislyClient, row: RepostRule) -> None:
        client.repost_delete(row.taisly_id)

    def store(row: RepostRule, _answer: None, already_gone: bool) -> RepostOutcome:
        label = _rule_label(row)
        row.delete()
        message = (
            _("The rule %(rule)s was already gone from Taisly; it is removed here too.")
            if already_gone
            else _("Rule %(rule)s deleted.")
        ) % {"rule": label}
        return RepostOutcome(rule=None, message=message)

    return _act_on_rule(
        workspace=workspace,
        actor=actor,
        rule=rule,
        action=AuditEvent.Action.REPOST_DELETED,
        act=act,
        store=store,
        not_done=_("%(reason)s The rule was not deleted."),
    )


# --- Graph -----------------------------------------------------------------------------------


def find_cycle(
    rules: Iterable[RepostRule], from_platform: Platform, to_platforms: Sequence[Platform]
) -> list[Platform] | None:
    """The circle a new rule from ``from_platform`` to ``to_platforms`` would close through the
    existing ``rules`` (paused ones too: resuming one would close it), as the platforms round it
    starting and ending with ``from_platform``; None when there is none. Breadth-first, so the
    shortest circle is the one named."""
    edges: dict[int, list[Platform]] = {}
    for rule in rules:
        edges.setdefault(rule.from_platform_id, []).extend(rule.to_platforms.all())
    best: list[Platform] | None = None
    for target in to_platforms:
        path = _path(edges, target, from_platform)
        if path is not None and (best is None or len(path) + 1 < len(best)):
            best = [from_platform, *path]
    return best


def _path(
    edges: dict[int, list[Platform]], start: Platform, goal: Platform
) -> list[Platform] | None:
    """The shortest chain of rules from ``start`` to ``goal`` (both included), or None."""
    previous: dict[int, Platform | None] = {start.pk: None}
    by_pk = {start.pk: start}
    queue = [start]
    while queue:
        node = queue.pop(0)
        if node.pk == goal.pk:
            chain = []
            current: Platform | None = node
            while current is not None:
                chain.append(current)
                current = previous[current.pk]
            return chain[::-1]
        for nxt in edges.get(node.pk, []):
            if nxt.pk not in previous:
                previous[nxt.pk] = node
                by_pk[nxt.pk] = nxt
                queue.append(nxt)
    return None


def rule_graph_cycles(rules: Sequence[RepostRule]) -> set[int]:
    """Ids of the rules that lie on a circle (of any length) in the mirror: the list marks them."""
    on_cycle: set[int] = set()
    edges: dict[int, list[Platform]] = {}
    for rule in rules:
        edges.setdefault(rule.from_platform_id, []).extend(rule.to_platforms.all())
    for rule in rules:
        if any(_path(edges, t, rule.from_platform) for t in rule.to_platforms.all()):
            on_cycle.add(rule.pk)
    return on_cycle


# --- Helpers ---------------------------------------------------------------------------------


def _refuse_direct_circle(
    rules: Iterable[RepostRule], from_platform: Platform, targets: Sequence[Platform]
) -> None:
    target_pks = {p.pk for p in targets}
    for rule in rules:
        if rule.from_platform_id in target_pks and any(
            p.pk == from_platform.pk for p in rule.to_platforms.all()
        ):
            raise RepostActionError(
                _(
                    "%(target)s already reposts to %(source)s, so this rule would repost in a "
                    "circle. Taisly does not allow that: delete or change that rule first."
                )
                % {
                    "target": platform_label(rule.from_platform),
                    "source": platform_label(from_platform),
                }
            )


def _cycle_sentence(cycle: list[Platform]) -> str:
    return _(
        "This rule closes a circle: %(circle)s. Taisly reposts only one step, so nothing "
        "loops, but every post to one of these accounts will also appear on the next. Add it "
        "anyway?"
    ) % {"circle": " → ".join(platform_label(p) for p in cycle)}


def _add_failure_sentence(failure: TaislyActionError) -> str:
    cause = failure.cause
    if isinstance(cause, TaislyRejected) and cause.status == 400:
        if cause.code == CIRCULAR:
            return _(
                "Taisly refused the rule: it would repost in a circle with a rule made in "
                "Taisly's own app. Sync the rules to see it."
            )
        if cause.detail:
            return _("Taisly refused the rule: %(detail)s") % {"detail": cause.detail}
    return _("%(reason)s The rule was not added.") % {"reason": failure.message}


def _joined(platforms: Iterable[Platform]) -> str:
    return ", ".join(platform_label(p) for p in platforms)


def _rule_label(rule: RepostRule) -> str:
    return f"{platform_label(rule.from_platform)} → {_joined(rule.to_platforms.all())}"


def _set_paused(
    *, workspace: Workspace, actor: User, rule: RepostRule, paused: bool
) -> RepostOutcome:
    def act(client: TaislyClient, row: RepostRule) -> taisly.RepostRule:
        return client.repost_pause(row.taisly_id, paused)

    def store(
        row: RepostRule, answer: taisly.RepostRule | None, already_gone: bool
    ) -> RepostOutcome:
        label = _rule_label(row)
        if already_gone:
            row.delete()
            return RepostOutcome(
                rule=None,
                message=_("The rule %(rule)s is gone from Taisly; it is removed here too.")
                % {"rule": label},
            )
        row.paused = answer.paused if answer is not None else paused
        row.last_seen_at = timezone.now()
        row.save(update_fields=["paused", "last_seen_at"])
        message = _("Rule %(rule)s paused.") if row.paused else _("Rule %(rule)s resumed.")
        return RepostOutcome(rule=row, message=message % {"rule": label})

    return _act_on_rule(
        workspace=workspace,
        actor=actor,
        rule=rule,
        action=AuditEvent.Action.REPOST_PAUSED if paused else AuditEvent.Action.REPOST_RESUMED,
        act=act,
        store=store,
        not_done=_("%(reason)s The rule was not paused.")
        if paused
        else _("%(reason)s The rule was not resumed."),
    )


def _act_on_rule(
    *,
    workspace: Workspace,
    actor: User,
    rule: RepostRule,
    action: str,
    act: Callable[[TaislyClient, RepostRule], T],
    store: Callable[[RepostRule, T | None, bool], RepostOutcome],
    not_done: str,
) -> RepostOutcome:
    def current() -> RepostRule:
        row = (
            RepostRule.objects.select_for_update(of=("self",))
            .select_related("from_platform")
            .filter(workspace=workspace, pk=rule.pk)
            .first()
        )
        if row is None:
            raise RepostActionError(_("This rule was deleted meanwhile."))
        return row

    with transaction.atomic():
        lock_writer(workspace=workspace, actor=actor)
        row = current()
    # No transaction (and so no lock) while Taisly answers.
    already_gone = False
    answer = None
    try:
        with taisly_for(workspace) as client:
            answer = act(client, row)
    except TaislyActionError as exc:
        if not _not_found(exc):
            raise RepostActionError(not_done % {"reason": exc.message}) from None
        already_gone = True
    with transaction.atomic():
        lock_writer(workspace=workspace, actor=actor)  # demoted meanwhile: nothing stored
        row = current()
        label = _rule_label(row)
        outcome = store(row, answer, already_gone)
        audit_record(
            workspace=workspace,
            actor=actor,
            action=action,
            target=row.taisly_id,
            details={"rule": label, **({"already_gone": True} if already_gone else {})},
        )
    return outcome


def _not_found(exc: TaislyActionError) -> bool:
    cause = exc.cause
    return isinstance(cause, TaislyRejected) and cause.status == 404
