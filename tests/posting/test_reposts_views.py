"""The repost rules page and its actions, through the test client, against the sandbox."""

from __future__ import annotations

import pytest
from django.urls import reverse

from accounts.models import AuditEvent
from posting.mirror import reposts
from posting.models import RepostRule
from tests.posting.sandbox_mirror import *  # noqa: F401,F403 (fixtures: mirrored, taisly, taisly_calls)

pytestmark = pytest.mark.django_db


def url(name: str, workspace, **kwargs) -> str:
    return reverse(f"posting:{name}", kwargs={"code": workspace.code, **kwargs})


@pytest.fixture
def rule(workspace, alice, mirrored) -> RepostRule:
    return reposts.repost_add(
        workspace=workspace,
        actor=alice,
        from_platform=mirrored["TikTok"],
        to_platforms=[mirrored["Instagram"], mirrored["X"]],
    ).rule


def test_the_list_shows_each_rule_with_its_platforms_state_and_maker(
    workspace, bob, mirrored, rule, login
):
    response = login(bob).get(url("reposts", workspace))

    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-testid="repost-rule"' in html
    for network in ("TikTok", "Instagram", "X"):
        assert f'alt="{network}"' in html  # its icon
    assert "Active" in html and "Alice" in html
    assert "Sync now (1 Taisly request)" in html
    assert url("repost_pause", workspace, rule_id=rule.taisly_id) in html
    assert 'data-testid="repost-add"' in html


def test_a_viewer_sees_the_rules_and_no_write_controls(workspace, vera, mirrored, rule, login):
    html = login(vera).get(url("reposts", workspace)).content.decode()

    assert 'data-testid="repost-rule"' in html
    assert "Sync now" not in html
    assert "/pause/" not in html and "/delete/" not in html
    assert 'data-testid="repost-add"' not in html


@pytest.mark.parametrize(
    ("name", "needs_rule"),
    [
        ("repost_add", False),
        ("reposts_sync", False),
        ("repost_pause", True),
        ("repost_resume", True),
        ("repost_delete", True),
    ],
)
def test_a_viewer_posting_directly_gets_403_and_taisly_is_not_asked(
    name, needs_rule, workspace, vera, mirrored, rule, login, taisly_calls
):
    taisly_calls.clear()
    kwargs = {"rule_id": rule.taisly_id} if needs_rule else {}
    data = {
        "from_platform": mirrored["X"].taisly_id,
        "to_platforms": [mirrored["TikTok"].taisly_id],
    }

    response = login(vera).post(url(name, workspace, **kwargs), data)

    assert response.status_code == 403
    assert taisly_calls == []
    assert RepostRule.objects.get().paused is False


def test_a_viewer_cannot_open_the_delete_confirmation(workspace, vera, mirrored, rule, login):
    response = login(vera).get(url("repost_delete", workspace, rule_id=rule.taisly_id))
    assert response.status_code == 403


def test_an_unknown_rule_is_a_404(workspace, alice, mirrored, login):
    response = login(alice).post(url("repost_pause", workspace, rule_id="0" * 24))
    assert response.status_code == 404


def test_add_without_javascript_redirects_with_a_message(workspace, bob, mirrored, login):
    client = login(bob)
    response = client.post(
        url("repost_add", workspace),
        {
            "from_platform": mirrored["YouTube"].taisly_id,
            "to_platforms": [mirrored["TikTok"].taisly_id, mirrored["Facebook"].taisly_id],
        },
        follow=True,
    )

    assert response.redirect_chain == [(url("reposts", workspace), 302)]
    html = response.content.decode()
    assert "Rule added" in html
    rule = RepostRule.objects.get()
    assert rule.created_by == bob and rule.from_platform == mirrored["YouTube"]


def test_add_with_htmx_answers_the_page_section(workspace, bob, mirrored, login):
    response = login(bob).post(
        url("repost_add", workspace),
        {"from_platform": mirrored["YouTube"].taisly_id, "to_platforms": [mirrored["X"].taisly_id]},
        HTTP_HX_REQUEST="true",
    )

    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="reposts-page">')
    assert "<html" not in html and "Rule added" in html


@pytest.mark.parametrize(
    ("data", "sentence"),
    [
        ({}, "This field is required."),
        ({"from_platform": "TIKTOK"}, "Choose at least one account"),
        ({"from_platform": "TIKTOK", "to_platforms": ["TIKTOK"]}, "cannot repost to itself"),
        ({"from_platform": "nope", "to_platforms": ["TIKTOK"]}, "Select a valid choice"),
    ],
)
def test_a_bad_form_answers_422_with_a_sentence(
    data, sentence, workspace, alice, mirrored, login, taisly_calls
):
    ids = {"TIKTOK": mirrored["TikTok"].taisly_id}
    data = {
        k: ([ids.get(x, x) for x in v] if isinstance(v, list) else ids.get(v, v))
        for k, v in data.items()
    }

    response = login(alice).post(url("repost_add", workspace), data)

    assert response.status_code == 422
    assert sentence in response.content.decode()
    assert taisly_calls == []


def test_a_disconnected_account_is_not_offered(workspace, alice, mirrored, login):
    mirrored["X"].connected = False
    mirrored["X"].save()
    html = login(alice).get(url("reposts", workspace)).content.decode()
    form = html[html.index('data-testid="repost-add"') :]
    assert f'value="{mirrored["X"].taisly_id}"' not in form
    assert f'value="{mirrored["TikTok"].taisly_id}"' in form


def test_the_reverse_rule_is_refused_and_keeps_the_choices(workspace, alice, mirrored, rule, login):
    source, target = mirrored["Instagram"].taisly_id, mirrored["TikTok"].taisly_id

    response = login(alice).post(
        url("repost_add", workspace), {"from_platform": source, "to_platforms": [target]}
    )

    assert response.status_code == 422
    html = response.content.decode()
    assert "already reposts to" in html
    assert f'value="{source}" selected' in html
    assert f'value="{target}" checked' in html
    assert RepostRule.objects.count() == 1


def test_a_longer_circle_is_shown_and_added_once_confirmed(workspace, alice, mirrored, rule, login):
    client = login(alice)
    client.post(
        url("repost_add", workspace),
        {"from_platform": mirrored["X"].taisly_id, "to_platforms": [mirrored["YouTube"].taisly_id]},
    )
    data = {
        "from_platform": mirrored["YouTube"].taisly_id,
        "to_platforms": [mirrored["TikTok"].taisly_id],
    }

    warned = client.post(url("repost_add", workspace), data)
    assert warned.status_code == 422
    assert 'data-testid="cycle-warning"' in warned.content.decode()
    assert RepostRule.objects.count() == 2

    added = client.post(url("repost_add", workspace), {**data, "confirm_cycle": "1"})
    assert added.status_code == 302
    assert RepostRule.objects.count() == 3


def test_pause_resume_and_delete_without_javascript(workspace, alice, mirrored, rule, login):
    client = login(alice)
    rule_id = rule.taisly_id

    paused = client.post(url("repost_pause", workspace, rule_id=rule_id), follow=True)
    assert "paused" in paused.content.decode() and RepostRule.objects.get().paused
    client.post(url("repost_resume", workspace, rule_id=rule_id))
    assert not RepostRule.objects.get().paused

    confirm = client.get(url("repost_delete", workspace, rule_id=rule_id))
    assert confirm.status_code == 200
    assert 'data-testid="confirm-delete"' in confirm.content.decode()
    assert RepostRule.objects.exists()  # asking deletes nothing

    deleted = client.post(url("repost_delete", workspace, rule_id=rule_id), follow=True)
    assert "deleted" in deleted.content.decode()
    assert not RepostRule.objects.exists()
    assert list(
        AuditEvent.objects.filter(action__startswith="repost.")
        .order_by("id")
        .values_list("action", flat=True)
    ) == ["repost.added", "repost.paused", "repost.resumed", "repost.deleted"]


def test_htmx_actions_answer_the_rules_section(workspace, alice, mirrored, rule, login):
    client = login(alice)
    headers = {"HTTP_HX_REQUEST": "true"}

    row = client.get(url("repost_delete", workspace, rule_id=rule.taisly_id), **headers)
    assert row.content.decode().lstrip().startswith(f'<tr id="rule-{rule.taisly_id}"')
    assert "Delete rule" in row.content.decode()

    paused = client.post(url("repost_pause", workspace, rule_id=rule.taisly_id), **headers)
    html = paused.content.decode()
    assert html.lstrip().startswith('<section id="reposts"') and "paused" in html


@pytest.mark.parametrize(
    ("fault", "sentence"),
    [
        ({"mode": "429", "retryAfter": 900}, "Try again in about 15 minutes"),
        ({"mode": "500"}, "Taisly had a problem of its own"),
        ({"mode": "garbage"}, "could not be understood"),
        ({"mode": "timeout", "delay": 2}, "did not answer in time"),
    ],
)
@pytest.mark.parametrize("htmx", [False, True])
def test_taisly_failures_are_sentences_never_500s(
    fault, sentence, htmx, workspace, alice, mirrored, rule, login, taisly, settings
):
    settings.TAISLY_READ_TIMEOUT = 0.5
    taisly.fault(**fault)
    headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}

    response = login(alice).post(
        url("repost_pause", workspace, rule_id=rule.taisly_id), follow=not htmx, **headers
    )

    assert response.status_code == 200
    assert sentence in response.content.decode()
    assert RepostRule.objects.get().paused is False


def test_a_revoked_key_is_a_sentence_on_add_and_keeps_the_choices(
    workspace, alice, mirrored, login
):
    from posting.taisly import TaislyClient

    with TaislyClient(mirrored.account["api_key"]) as client:
        client.key_revoke()
    data = {
        "from_platform": mirrored["X"].taisly_id,
        "to_platforms": [mirrored["TikTok"].taisly_id],
    }

    response = login(alice).post(url("repost_add", workspace), data)

    assert response.status_code == 422
    html = response.content.decode()
    assert "did not accept this key" in html and "not added" in html
    assert f'value="{mirrored["TikTok"].taisly_id}" checked' in html


def test_sync_now_costs_one_request(workspace, alice, mirrored, rule, login, taisly_calls):
    taisly_calls.clear()
    response = login(alice).post(url("reposts_sync", workspace), follow=True)
    assert [c.endpoint for c in taisly_calls] == ["GET /reposts"]
    assert "Repost rules synced from Taisly (1)" in response.content.decode()


def test_the_page_runs_a_fixed_number_of_queries(
    workspace, alice, mirrored, login, django_assert_num_queries
):
    client = login(alice)
    client.get(url("reposts", workspace))  # warm the session

    def add_rules(n: int) -> None:
        for i in range(n):
            made = RepostRule.objects.create(
                workspace=workspace,
                taisly_id=f"rule{RepostRule.objects.count()}-{i}",
                from_platform=mirrored["TikTok"],
                created_by=alice,
            )
            made.to_platforms.set([mirrored["X"], mirrored["YouTube"]])

    counts = []
    for n in (1, 20):
        add_rules(n)
        # 1 session, 2 user, 3 the user's memberships + workspaces (access and navigation),
        # 4 rules + source + maker, 5 their destinations, 6 usable platforms (the form),
        # 7 mirror state.
        with django_assert_num_queries(7) as captured:
            response = client.get(url("reposts", workspace))
        assert response.status_code == 200
        counts.append(len(captured))
    assert counts[0] == counts[1]
