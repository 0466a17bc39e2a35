"""A caption per network: one caption for all, or a different one for any network. Taisly takes
one description per post, so each distinct caption is a Taisly post of its own (a group: a lead
and members), shown as one post everywhere. Against the sandbox over HTTP."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from posting import tasks
from posting.models import Platform, Post, PostResult, RepostRule
from posting.sending import cancel, edits, groups, queueing, retry
from tests.posting.upload_fixtures import *  # noqa: F403 (fixtures)
from tests.posting.upload_fixtures import compose_data, compose_url, platform, sandbox_posts

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def queue(monkeypatch):
    made: list[int] = []
    monkeypatch.setattr(queueing, "enqueue_forward", made.append)
    monkeypatch.setattr(queueing, "enqueue_edit", lambda pk: made.append(-pk))
    return made


def post_url(post, name="posting:post") -> str:
    return reverse(name, kwargs={"code": post.workspace.code, "post_code": post.code})


def compose(client, workspace, video, **data):
    payload = compose_data(workspace, **data)
    with open(video, "rb") as fh:
        return client.post(compose_url(workspace), {**payload, "video": fh})


def two_captions(workspace, **extra) -> dict:
    return dict(
        networks=("TikTok", "Instagram", "X"),
        description="The long caption for TikTok and Instagram, well past X's hundred characters, "
        "with room to spare for every hashtag a social-media manager would want.",
        separate_captions="on",
        caption_X="Short for X",
        **extra,
    )


def test_two_captions_make_two_taisly_posts_shown_as_one(
    login, bob, workspace, connected_ws, video_file, sandbox, queue
):
    client = login(bob)
    response = compose(client, workspace, video_file(), **two_captions(workspace))
    assert response.status_code == 302, response.content.decode()[:3000]
    lead = Post.objects.get(group__isnull=True)
    [member] = Post.objects.filter(group=lead)
    assert sorted(queue) == sorted([lead.pk, member.pk])
    assert sorted(p.network for p in lead.target_platforms.all()) == ["Instagram", "TikTok"]
    assert [p.network for p in member.target_platforms.all()] == ["X"]
    assert member.description == "Short for X" and member.video.name == lead.video.name
    assert tasks.forward_post(lead.pk) == "sent" and tasks.forward_post(member.pk) == "sent"
    made = sandbox_posts(sandbox, connected_ws["api_key"])
    assert sorted(p["description"] for p in made) == sorted([lead.description, "Short for X"])

    # The history shows one post with the three networks.
    history = client.get(reverse("posting:history", kwargs={"code": workspace.code}))
    html = history.content.decode()
    assert html.count('data-testid="post-row"') == 1 and str(lead.code) in html
    assert str(member.code) not in html
    # Its page has every network's result; the member's own page leads to it.
    page = client.get(post_url(lead)).content.decode()
    assert page.count('data-testid="result"') == 3 and "Short for X" in page
    assert client.get(post_url(member))["Location"] == post_url(lead)
    # The video is counted once.
    from posting.sending import limits

    assert limits.workspace_storage(workspace).used == lead.video_size


def test_xs_limit_binds_xs_caption_only(login, bob, workspace, connected_ws, video_file, queue):
    data = two_captions(workspace)
    data["caption_X"] = "x" * 101
    response = compose(login(bob), workspace, video_file(), **data)
    assert response.status_code == 422
    html = response.content.decode()
    assert "X takes at most 100 characters; this description has 101" in html
    assert not Post.objects.exists()
    # Without a caption of its own, X is held to the caption for all.
    data.pop("separate_captions")
    response = compose(login(bob), workspace, video_file(), **data)
    assert response.status_code == 422 and "X takes at most 100" in response.content.decode()


def test_the_form_says_the_cost_and_the_repost_rules(
    login, bob, workspace, connected_ws, video_file, queue
):
    rule = RepostRule.objects.create(
        workspace=workspace, taisly_id="r1", from_platform=platform(workspace, "TikTok")
    )
    rule.to_platforms.set([platform(workspace, "YouTube")])
    paused = RepostRule.objects.create(
        workspace=workspace, taisly_id="r2", from_platform=platform(workspace, "X"), paused=True
    )
    paused.to_platforms.set([platform(workspace, "Facebook")])
    client = login(bob)
    html = client.get(compose_url(workspace)).content.decode()
    assert "YouTube will also get this, by the rule TikTok → YouTube." in html
    assert "Facebook will also get this" not in html  # a paused rule adds nothing
    assert 'data-testid="send-cost"' in html
    assert 'name="caption_X"' in html and 'name="separate_captions"' in html
    # After a submit the form says the exact cost of what was chosen.
    data = two_captions(workspace, when="later", scheduled_at="1999-01-01T00:00")
    response = compose(client, workspace, video_file(), **data)
    assert "Sending costs 2 uploads of the video and 2 Taisly requests" in response.content.decode()


def test_a_retry_covers_every_caption_of_the_post(
    login, bob, workspace, connected_ws, video_file, sandbox, queue
):
    compose(login(bob), workspace, video_file(), **two_captions(workspace))
    lead = Post.objects.get(group__isnull=True)
    member = Post.objects.get(group=lead)
    for row in (lead, member):
        assert tasks.forward_post(row.pk) == "sent"
    PostResult.objects.filter(post__in=[lead, member]).update(status=PostResult.Status.FAILED)
    queue.clear()
    first = retry.post_retry_failed(post=lead, actor=bob)
    retries = Post.objects.filter(retry_of__isnull=False)
    assert retries.count() == 2 and first.retry_of == lead
    assert {r.description for r in retries} == {lead.description, "Short for X"}
    assert sorted(queue) == sorted(r.pk for r in retries)


def test_cancelling_and_editing_a_grouped_post_act_on_every_caption(
    login, bob, workspace, connected_ws, video_file, sandbox, queue
):
    when = timezone.now() + timedelta(days=2)
    data = two_captions(
        workspace, when="later", scheduled_at=timezone.localtime(when).strftime("%Y-%m-%dT%H:%M")
    )
    compose(login(bob), workspace, video_file(), **data)
    lead = Post.objects.get(group__isnull=True)
    member = Post.objects.get(group=lead)
    for row in (lead, member):
        assert tasks.forward_post(row.pk) == "sent"
    lead.refresh_from_db()
    assert edits.can_edit(lead)
    html = login(bob).get(post_url(lead, "posting:post_edit")).content.decode()
    assert "This edit costs 4 Taisly requests: 2 to cancel and 2 to make it again" in html

    # One caption for all now: the edit cancels both and makes one.
    new_time = (timezone.now() + timedelta(days=3)).replace(second=0, microsecond=0)
    edits.post_edit(
        post=lead,
        actor=bob,
        change=edits.PostChange(
            platforms=list(
                Platform.objects.filter(workspace=workspace, network__in=["TikTok", "X"])
            ),
            description="One for all",
            captions={},
            cover_second=0,
            scheduled_at=new_time,
        ),
    )
    assert tasks.edit_post(lead.pk) == "edited"
    assert list(Post.objects.values_list("pk", flat=True)) == [lead.pk]
    assert sandbox_posts(sandbox, connected_ws["api_key"]) == []
    assert tasks.forward_post(lead.pk) == "sent"
    [made] = sandbox_posts(sandbox, connected_ws["api_key"])
    assert made["description"] == "One for all"

    lead.refresh_from_db()
    cancel.post_cancel(post=lead, actor=bob)
    assert sandbox_posts(sandbox, connected_ws["api_key"]) == []


def test_the_plan_groups_platforms_by_caption(workspace, connected_ws):
    tiktok, insta, x = (platform(workspace, n) for n in ("TikTok", "Instagram", "X"))
    plan = groups.caption_plan([tiktok, insta, x], "all", {"X": "x", "Instagram": ""})
    assert [(g.caption, [p.network for p in g.platforms]) for g in plan] == [
        ("all", ["TikTok", "Instagram"]),
        ("x", ["X"]),
    ]
    assert groups.send_cost(plan) == groups.Cost(uploads=2, requests=2)
    assert groups.edit_cost(1, plan) == groups.Cost(uploads=2, requests=3)
