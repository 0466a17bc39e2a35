"""django-q2 entry points: each takes ids, calls one service and returns (the logic lives there).

forward_post(post_id)   uploads cluster: send a QUEUED post's video to Taisly
recheck_post(post_id)   uploads cluster: read history again for a NEEDS_CHECK post
cleanup_videos()        default cluster, daily (schedule CLEANUP_SCHEDULE): retention
"""

from __future__ import annotations

from posting import upload


def forward_post(post_id: int) -> str:
    return upload.post_forward(post_id=post_id)


def recheck_post(post_id: int) -> str:
    return upload.post_recheck(post_id=post_id)


def cleanup_videos() -> str:
    outcome = upload.videos_cleanup()
    return f"{outcome.videos_deleted} videos, {outcome.temp_files_deleted} temp files deleted"


def check_stalled_sends() -> str:
    return f"{upload.stalled_sends_check()} stalled sends to be checked"
