"""The review link's page gives its times with their zone, as the rest of the app does, and
warns that a post whose planned time passed while it waited is held when approved."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from posting.models import Draft
from tests.posting.sandbox_posts import *  # noqa: F403 (fixtures)
from tests.posting.upload_fixtures import *  # noqa: F403 (fixtures)
from tests.reviewlinks import test_link_decisions as decisions

pytestmark = pytest.mark.django_db(transaction=True)

waiting = decisions.waiting  # the fixture: a client-stage draft and a link holder on it


def test_the_expiry_and_comment_times_name_their_zone(waiting):
    draft, client = waiting
    client.post(reverse("review:comment", args=[draft.code]), {"body": "Looks good"})
    page = client.get(reverse("review:page")).content.decode()
    expiry = page[page.index("Link expires") :][:300]
    assert re.search(r"UTC[+-]\d{4}", expiry), expiry
    comment = page[page.index('data-testid="review-comment-item"') :][:400]
    assert re.search(r"UTC[+-]\d{4}", comment), comment


def test_a_post_past_its_time_warns_the_client_before_approving(waiting):
    draft, client = waiting
    page = client.get(reverse("review:page")).content.decode()
    assert 'data-testid="review-time-passed"' not in page
    Draft.objects.filter(pk=draft.pk).update(scheduled_at=timezone.now() - timedelta(hours=1))
    page = client.get(reverse("review:page")).content.decode()
    assert 'data-testid="review-time-passed"' in page and "approving will hold it" in page
