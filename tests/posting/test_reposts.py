"""Repost rule services against the sandbox over real HTTP: the mirror, add (and what it
refuses), pause, resume, delete, sync, and every Taisly failure as a sentence."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.core.exceptions import PermissionDenied

from accounts.models import AuditEvent, Membership, TaislyConnection
from posting.mirror import reposts
from posting.mirror.reposts import RepostActionError, RepostCycleWarning
from posting.models import MirrorState, Platform, RepostRule
from posting.taisly import RepostRule as TaislyRule
from posting.taisly import TaislyClient
from tests.posting.sandbox_mirror import *  # noqa: F401,F403 (fixtures: mirrored, taisly, taisly_calls)

pytestmark = pytest.mark.django_db


def at_taisly(mirrored) -> TaislyClient:
    """A client for the same sandbox account, acting behind the dashboard's back."""
    return TaislyClient(mirrored.account["api_key"])


def taisly_rules(mirrored) -> list[tuple[str, tuple[str, ...], bool]]:
    with at_taisly(mirrored) as client:
        return sorted((r.from_platform, r.to_platforms, r.paused) for r in client.reposts())


def repost_events(workspace) -> list[tuple[str, str]]:
    return list(
        AuditEvent.objects.filter(workspace=workspace, action__startswith="repost.")
        .order_by("id")
        .values_list("action", "actor__email")
    )


# --- Add ------------------------------------------------------------------------------------


def test_add_makes_the_rule_at_taisly_and_mirrors_it(workspace, alice, mirrored, taisly_calls):
    tiktok, instagram, youtube = mirrored["TikTok"], mirrored["Instagram"], mirrored["YouTube"]

    outcome = reposts.repost_add(
        workspace=workspace, actor=alice, from_platform=tiktok, to_platforms=[instagram, youtube]
    )

    assert [c.endpoint for c in taisly_calls] == ["POST /repost/add"]
    assert taisly_rules(mirrored) == [
        (tiktok.taisly_id, (instagram.taisly_id, youtube.taisly_id), False)
    ]
    rule = RepostRule.objects.get(workspace=workspace)
    assert outcome.rule == rule
    assert rule.from_platform == tiktok
    assert set(rule.to_platforms.all()) == {instagram, youtube}
    assert rule.created_by == alice and rule.paused is False
    assert "TikTok" in outcome.message and "Instagram" in outcome.message
    assert repost_events(workspace) == [("repost.added", alice.email)]
    details = AuditEvent.objects.get(action="repost.added").details
    assert details["from"].startswith("TikTok") and len(details["to"]) == 2


def test_an_editor_may_add_a_rule(workspace, bob, mirrored):
    reposts.repost_add(
        workspace=workspace,
        actor=bob,
        from_platform=mirrored["X"],
        to_platforms=[mirrored["TikTok"]],
    )
    assert RepostRule.objects.get().created_by == bob


def test_a_viewer_is_refused_before_taisly_is_asked(workspace, vera, mirrored, taisly_calls):
    with pytest.raises(PermissionDenied):
        reposts.repost_add(
            workspace=workspace,
            actor=vera,
            from_platform=mirrored["TikTok"],
            to_platforms=[mirrored["X"]],
        )
    assert taisly_calls == [] and taisly_rules(mirrored) == []
    assert not RepostRule.objects.exists() and repost_events(workspace) == []


def test_an_editor_demoted_since_the_page_loaded_is_refused(workspace, bob, mirrored, taisly_calls):
    Membership.objects.filter(user=bob).update(role=Membership.Role.VIEWER)
    with pytest.raises(PermissionDenied):
        reposts.repost_add(
            workspace=workspace,
            actor=bob,
            from_platform=mirrored["TikTok"],
            to_platforms=[mirrored["X"]],
        )
    assert taisly_calls == []


def test_staff_who_are_not_members_never_write(workspace, staff, mirrored):
    with pytest.raises(PermissionDenied):
        reposts.repost_add(
            workspace=workspace,
            actor=staff,
            from_platform=mirrored["TikTok"],
            to_platforms=[mirrored["X"]],
        )


def test_the_reverse_of_a_rule_is_refused_with_a_sentence_before_taisly(
    workspace, alice, mirrored, taisly_calls
):
    tiktok, instagram = mirrored["TikTok"], mirrored["Instagram"]
    reposts.repost_add(
        workspace=workspace, actor=alice, from_platform=tiktok, to_platforms=[instagram]
    )
    taisly_calls.clear()

    with pytest.raises(RepostActionError) as refused:
        reposts.repost_add(
            workspace=workspace, actor=alice, from_platform=instagram, to_platforms=[tiktok]
        )

    assert "already reposts to" in refused.value.message
    assert "Instagram" in refused.value.message and "TikTok" in refused.value.message
    assert taisly_calls == []
    assert RepostRule.objects.count() == 1


def test_the_reverse_of_a_paused_rule_is_refused_too(workspace, alice, mirrored):
    tiktok, instagram = mirrored["TikTok"], mirrored["Instagram"]
    rule = reposts.repost_add(
        workspace=workspace, actor=alice, from_platform=tiktok, to_platforms=[instagram]
    ).rule
    reposts.repost_pause(workspace=workspace, actor=alice, rule=rule)

    with pytest.raises(RepostActionError, match="circle"):
        reposts.repost_add(
            workspace=workspace, actor=alice, from_platform=instagram, to_platforms=[tiktok]
        )


def test_taislys_own_refusal_is_a_sentence(workspace, alice, mirrored, taisly_calls):
    tiktok, instagram = mirrored["TikTok"], mirrored["Instagram"]
    # Made in Taisly's own app: the mirror does not know it, so only Taisly can refuse.
    with at_taisly(mirrored) as client:
        client.repost_add(instagram.taisly_id, [tiktok.taisly_id])
    taisly_calls.clear()

    with pytest.raises(RepostActionError) as refused:
        reposts.repost_add(
            workspace=workspace, actor=alice, from_platform=tiktok, to_platforms=[instagram]
        )

    assert "Taisly refused the rule" in refused.value.message
    assert "circle" in refused.value.message
    assert [c.endpoint for c in taisly_calls] == ["POST /repost/add"]
    assert not RepostRule.objects.exists() and repost_events(workspace) == []


def test_a_longer_circle_asks_for_confirmation_and_then_adds(
    workspace, alice, mirrored, taisly_calls
):
    tiktok, instagram, youtube = mirrored["TikTok"], mirrored["Instagram"], mirrored["YouTube"]
    reposts.repost_add(
        workspace=workspace, actor=alice, from_platform=tiktok, to_platforms=[instagram]
    )
    reposts.repost_add(
        workspace=workspace, actor=alice, from_platform=instagram, to_platforms=[youtube]
    )
    taisly_calls.clear()

    with pytest.raises(RepostCycleWarning) as warned:
        reposts.repost_add(
            workspace=workspace, actor=alice, from_platform=youtube, to_platforms=[tiktok]
        )
    assert warned.value.cycle == [youtube, tiktok, instagram, youtube]
    assert "YouTube" in warned.value.message and "→" in warned.value.message
    assert taisly_calls == []

    reposts.repost_add(
        workspace=workspace,
        actor=alice,
        from_platform=youtube,
        to_platforms=[tiktok],
        confirm_cycle=True,
    )
    assert [c.endpoint for c in taisly_calls] == ["POST /repost/add"]
    assert RepostRule.objects.count() == 3
    assert (
        AuditEvent.objects.filter(action="repost.added")
        .order_by("id")
        .last()
        .details["circle_confirmed"]
    )
    rules = reposts.reposts_for_page(workspace)
    assert reposts.rule_graph_cycles(rules) == {r.pk for r in rules}


@pytest.mark.parametrize("case", ["self", "empty", "disconnected", "gone", "other_workspace"])
def test_unusable_choices_are_refused_before_taisly(
    case, workspace, alice, mirrored, taisly_calls, charlie
):
    tiktok, x = mirrored["TikTok"], mirrored["X"]
    targets = [x]
    if case == "self":
        targets = [tiktok]
    elif case == "empty":
        targets = []
    elif case == "disconnected":
        Platform.objects.filter(pk=x.pk).update(connected=False)
    elif case == "gone":
        Platform.objects.filter(pk=x.pk).update(gone_at=datetime.now(UTC))
    else:
        from accounts.models import Workspace

        other = Workspace.objects.create(name="Other")
        targets = [Platform.objects.create(workspace=other, taisly_id=x.taisly_id, network="X")]

    with pytest.raises(RepostActionError) as refused:
        reposts.repost_add(
            workspace=workspace, actor=alice, from_platform=tiktok, to_platforms=targets
        )
    assert refused.value.message.endswith(".")
    assert taisly_calls == []


# --- Pause, resume, delete -------------------------------------------------------------------


@pytest.fixture
def rule(workspace, alice, mirrored) -> RepostRule:
    return reposts.repost_add(
        workspace=workspace,
        actor=alice,
        from_platform=mirrored["TikTok"],
        to_platforms=[mirrored["Instagram"]],
    ).rule


def test_pause_and_resume_follow_taislys_answer(workspace, bob, mirrored, rule, taisly_calls):
    paused = reposts.repost_pause(workspace=workspace, actor=bob, rule=rule)
    assert paused.rule.paused is True and "paused" in paused.message
    assert taisly_rules(mirrored)[0][2] is True

    resumed = reposts.repost_resume(workspace=workspace, actor=bob, rule=rule)
    assert resumed.rule.paused is False and "resumed" in resumed.message
    assert taisly_rules(mirrored)[0][2] is False

    mine = [c.endpoint for c in taisly_calls if c.endpoint != "GET /reposts"]  # not the checks
    assert mine == ["POST /repost/pause", "POST /repost/pause"]
    assert RepostRule.objects.get().paused is False
    assert repost_events(workspace)[1:] == [
        ("repost.paused", bob.email),
        ("repost.resumed", bob.email),
    ]


def test_delete_removes_it_at_taisly_and_here(workspace, alice, mirrored, rule):
    outcome = reposts.repost_delete(workspace=workspace, actor=alice, rule=rule)

    assert outcome.rule is None and "deleted" in outcome.message
    assert taisly_rules(mirrored) == []
    assert not RepostRule.objects.exists()
    assert repost_events(workspace)[-1] == ("repost.deleted", alice.email)
    assert "TikTok" in AuditEvent.objects.get(action="repost.deleted").details["rule"]


@pytest.mark.parametrize("service", ["repost_pause", "repost_delete"])
def test_a_rule_deleted_in_taislys_app_leaves_the_mirror(workspace, alice, mirrored, rule, service):
    with at_taisly(mirrored) as client:
        client.repost_delete(rule.taisly_id)

    outcome = getattr(reposts, service)(workspace=workspace, actor=alice, rule=rule)

    assert outcome.rule is None and "gone from Taisly" in outcome.message
    assert not RepostRule.objects.exists()
    assert (
        AuditEvent.objects.filter(action__startswith="repost.")
        .order_by("id")
        .last()
        .details["already_gone"]
    )


@pytest.mark.parametrize("service", ["repost_pause", "repost_resume", "repost_delete"])
def test_a_viewer_cannot_change_a_rule(workspace, vera, mirrored, rule, service, taisly_calls):
    taisly_calls.clear()
    with pytest.raises(PermissionDenied):
        getattr(reposts, service)(workspace=workspace, actor=vera, rule=rule)
    assert taisly_calls == []
    assert RepostRule.objects.get().paused is False


# --- Failures from Taisly ---------------------------------------------------------------------


def test_a_429_is_a_sentence_and_blocks_the_key(workspace, alice, mirrored, rule, taisly):
    taisly.fault("429", retryAfter=600)

    with pytest.raises(RepostActionError) as failed:
        reposts.repost_pause(workspace=workspace, actor=alice, rule=rule)

    assert "hourly request limit" in failed.value.message
    assert "minutes" in failed.value.message and "not paused" in failed.value.message
    assert RepostRule.objects.get().paused is False
    # What the gateway recorded survives the failed action's transaction.
    assert TaislyConnection.objects.get(workspace=workspace).blocked_until is not None
    # And the next action is refused without a request.
    with pytest.raises(RepostActionError, match="hourly request limit"):
        reposts.repost_delete(workspace=workspace, actor=alice, rule=rule)
    assert RepostRule.objects.exists()


def test_an_outage_is_a_sentence(workspace, alice, mirrored, taisly):
    taisly.fault("500")
    with pytest.raises(RepostActionError) as failed:
        reposts.repost_add(
            workspace=workspace,
            actor=alice,
            from_platform=mirrored["TikTok"],
            to_platforms=[mirrored["X"]],
        )
    assert "problem of its own" in failed.value.message
    assert "not added" in failed.value.message
    assert not RepostRule.objects.exists() and repost_events(workspace) == []


def test_a_timeout_is_a_sentence(workspace, alice, mirrored, rule, taisly, settings):
    settings.TAISLY_READ_TIMEOUT = 0.5
    taisly.fault("timeout", delay=2)
    with pytest.raises(RepostActionError) as failed:
        reposts.repost_delete(workspace=workspace, actor=alice, rule=rule)
    assert "did not answer in time" in failed.value.message
    assert RepostRule.objects.exists()


def test_a_revoked_key_is_a_sentence_and_marks_the_key_invalid(workspace, alice, mirrored, rule):
    with at_taisly(mirrored) as client:
        client.key_revoke()

    with pytest.raises(RepostActionError) as failed:
        reposts.repost_resume(workspace=workspace, actor=alice, rule=rule)

    assert "did not accept this key" in failed.value.message
    connection = TaislyConnection.objects.get(workspace=workspace)
    assert connection.status == TaislyConnection.Status.INVALID


def test_no_key_is_a_sentence(workspace, alice, mirrored, rule):
    TaislyConnection.objects.filter(workspace=workspace).delete()
    with pytest.raises(RepostActionError, match="no Taisly key"):
        reposts.repost_pause(workspace=workspace, actor=alice, rule=rule)


# --- Sync and the mirror ----------------------------------------------------------------------


def test_sync_reads_taislys_rules_in_one_request(workspace, alice, mirrored, rule, taisly_calls):
    tiktok, x, youtube = mirrored["TikTok"], mirrored["X"], mirrored["YouTube"]
    with at_taisly(mirrored) as client:
        client.repost_pause(rule.taisly_id)
        made_there = client.repost_add(x.taisly_id, [youtube.taisly_id])
    taisly_calls.clear()

    stored = reposts.reposts_sync(workspace=workspace, actor=alice)

    assert [c.endpoint for c in taisly_calls] == ["GET /reposts"]
    assert {r.taisly_id for r in stored} == {rule.taisly_id, made_there.id}
    mine = RepostRule.objects.get(taisly_id=rule.taisly_id)
    assert mine.paused is True and mine.created_by == alice  # who made it here is kept
    theirs = RepostRule.objects.get(taisly_id=made_there.id)
    assert theirs.created_by is None and theirs.from_platform == x
    assert theirs.created_at == made_there.created_at
    assert MirrorState.objects.get(workspace=workspace).reposts_synced_at is not None
    assert tiktok.pk == mine.from_platform_id


def test_sync_by_a_viewer_is_refused(workspace, vera, mirrored, taisly_calls):
    with pytest.raises(PermissionDenied):
        reposts.reposts_sync(workspace=workspace, actor=vera)
    assert taisly_calls == []


def test_sync_failure_is_a_sentence(workspace, alice, mirrored, taisly):
    taisly.fault("garbage")
    with pytest.raises(RepostActionError, match="not synced"):
        reposts.reposts_sync(workspace=workspace, actor=None)


def test_store_upserts_deletes_and_makes_placeholders(workspace, alice, mirrored):
    tiktok, x = mirrored["TikTok"], mirrored["X"]
    old = RepostRule.objects.create(workspace=workspace, taisly_id="old", from_platform=tiktok)
    kept = RepostRule.objects.create(
        workspace=workspace, taisly_id="kept", from_platform=tiktok, created_by=alice
    )
    made = datetime(2026, 11, 1, tzinfo=UTC)

    reposts.reposts_store(
        workspace=workspace,
        rules=[
            TaislyRule("kept", tiktok.taisly_id, (x.taisly_id, "unknown-id"), True, None),
            TaislyRule("new", "another-unknown", (tiktok.taisly_id,), False, made),
        ],
    )

    assert not RepostRule.objects.filter(pk=old.pk).exists()
    kept.refresh_from_db()
    assert kept.paused and kept.created_by == alice
    assert {p.taisly_id for p in kept.to_platforms.all()} == {x.taisly_id, "unknown-id"}
    new = RepostRule.objects.get(taisly_id="new")
    assert new.created_at == made and new.created_by is None
    placeholder = Platform.objects.get(taisly_id="another-unknown")
    assert placeholder.workspace == workspace and not placeholder.is_usable
    assert reposts.platform_label(placeholder) == "unknown account another-unknown"
    # Storing the same list again changes nothing and makes no second placeholder.
    reposts.reposts_store(
        workspace=workspace,
        rules=[TaislyRule("new", "another-unknown", (tiktok.taisly_id,), False, made)],
    )
    assert Platform.objects.filter(taisly_id="another-unknown").count() == 1
    assert list(RepostRule.objects.values_list("taisly_id", flat=True)) == ["new"]


def test_the_page_reads_rules_in_a_fixed_number_of_queries(
    workspace, alice, mirrored, django_assert_num_queries
):
    tiktok = mirrored["TikTok"]
    for i in range(5):
        rule = RepostRule.objects.create(
            workspace=workspace, taisly_id=f"r{i}", from_platform=tiktok, created_by=alice
        )
        rule.to_platforms.set([mirrored["X"], mirrored["YouTube"]])
    # 1. the rules with their source platform and maker, 2. their destination platforms.
    with django_assert_num_queries(2):
        rules = reposts.reposts_for_page(workspace)
        assert all(len(r.to_platforms.all()) == 2 for r in rules)


def test_a_post_through_a_rule_shows_as_a_repost_of_the_rules_source(
    workspace, alice, mirrored, taisly
):
    """What the rules page says (from → to) and what history marks (a repost of …) agree."""
    from posting.mirror.sync import history_sync
    from posting.models import PostResult
    from tests.videos import make_video

    tiktok, instagram, x = mirrored["TikTok"], mirrored["Instagram"], mirrored["X"]
    rule = reposts.repost_add(
        workspace=workspace, actor=alice, from_platform=tiktok, to_platforms=[instagram, x]
    ).rule
    with at_taisly(mirrored) as client:
        client.create_post(
            make_video(taisly.tmpdir / "rule-post.mp4"),
            platforms=[tiktok.taisly_id],
            description="through a rule",
        )
    taisly.advance(2)

    history_sync(workspace=workspace, actor=None)

    results = {r.platform: r for r in PostResult.objects.select_related("repost_of")}
    assert set(results) == {tiktok, *rule.to_platforms.all()}
    assert not results[tiktok].is_repost
    for target in rule.to_platforms.all():
        assert results[target].is_repost and results[target].repost_of == rule.from_platform


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("action", ["add", "pause", "delete", "sync"])
def test_no_transaction_is_held_while_taisly_answers(
    workspace, alice, mirrored, monkeypatch, action
):
    """On SQLite a write transaction locks the whole file: a slow Taisly would stall every
    request. Each Taisly call of a rule action happens outside any transaction."""
    from django.db import transaction

    rule = reposts.repost_add(
        workspace=workspace,
        actor=alice,
        from_platform=mirrored["TikTok"],
        to_platforms=[mirrored["X"]],
    ).rule
    called = {}
    name = {"add": "repost_add", "pause": "repost_pause", "delete": "repost_delete"}.get(
        action, "reposts"
    )
    original = getattr(TaislyClient, name)

    def watched(self, *args, **kwargs):
        called["in_transaction"] = transaction.get_connection().in_atomic_block
        return original(self, *args, **kwargs)

    monkeypatch.setattr(TaislyClient, name, watched)
    if action == "add":
        reposts.repost_add(
            workspace=workspace,
            actor=alice,
            from_platform=mirrored["Instagram"],
            to_platforms=[mirrored["X"]],
        )
    elif action == "pause":
        reposts.repost_pause(workspace=workspace, actor=alice, rule=rule)
    elif action == "delete":
        reposts.repost_delete(workspace=workspace, actor=alice, rule=rule)
    else:
        reposts.reposts_sync(workspace=workspace, actor=alice)
    assert called == {"in_transaction": False}


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("action", ["add", "pause", "sync"])
def test_an_editor_demoted_while_taisly_acts_stores_nothing(
    workspace, alice, bob, mirrored, monkeypatch, action
):
    """The role is checked again in the transaction that stores Taisly's answer: an editor
    demoted during the call is refused, and neither the mirror nor the audit trail changes
    (the next sync mirrors what Taisly did)."""
    rule = reposts.repost_add(
        workspace=workspace,
        actor=alice,
        from_platform=mirrored["TikTok"],
        to_platforms=[mirrored["X"]],
    ).rule
    name = {"add": "repost_add", "pause": "repost_pause"}.get(action, "reposts")
    original = getattr(TaislyClient, name)

    def demoted_meanwhile(self, *args, **kwargs):
        # The owner demotes bob while his request is at Taisly: no lock stands in the way.
        Membership.objects.filter(user=bob, workspace=workspace).update(role=Membership.Role.VIEWER)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(TaislyClient, name, demoted_meanwhile)
    before_rules = list(RepostRule.objects.values_list("taisly_id", "paused"))
    before_events = repost_events(workspace)
    synced_before = (
        MirrorState.objects.filter(workspace=workspace)
        .values_list("reposts_synced_at", flat=True)
        .first()
    )
    with pytest.raises(PermissionDenied):
        if action == "add":
            reposts.repost_add(
                workspace=workspace,
                actor=bob,
                from_platform=mirrored["Instagram"],
                to_platforms=[mirrored["X"]],
            )
        elif action == "pause":
            reposts.repost_pause(workspace=workspace, actor=bob, rule=rule)
        else:
            reposts.reposts_sync(workspace=workspace, actor=bob)
    assert list(RepostRule.objects.values_list("taisly_id", "paused")) == before_rules
    assert repost_events(workspace) == before_events
    assert (
        MirrorState.objects.filter(workspace=workspace)
        .values_list("reposts_synced_at", flat=True)
        .first()
    ) == synced_before
