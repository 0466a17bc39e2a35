"""Drafts with a real kept video, made without the compose form (the form is tested elsewhere),
for the review link, streaming and comment tests."""

from __future__ import annotations

import pytest
from django.core.files import File

from posting.models import Draft, Platform

__all__ = ["kept_draft", "make_kept_draft"]


def make_kept_draft(workspace, author, video_path, *, description="For the client", **fields):
    draft = Draft.objects.create(
        workspace=workspace, author=author, description=description, **fields
    )
    with open(video_path, "rb") as fh:
        draft.video.save("clip.mp4", File(fh, name="clip.mp4"))
    draft.video_name = "clip.mp4"
    draft.video_size = draft.video.size
    draft.save()
    for network in ("TikTok", "Instagram"):
        platform, _ = Platform.objects.get_or_create(
            workspace=workspace, taisly_id=f"p-{network}", defaults={"network": network}
        )
        draft.target_platforms.add(platform)
    return draft


@pytest.fixture
def kept_draft(workspace, bob, media, video_file):
    return make_kept_draft(workspace, bob, video_file("review.mp4", seconds=3.0))
