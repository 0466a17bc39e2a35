"""What Taisly's failure codes mean, for people.

A FAILED result carries a machine code in its message (``DESCRIPTION_TOO_LONG``). The codes
below are the ones the sandbox produces and the public Taisly Agent Kit names; any other code is
shown as it is, without an explanation, rather than guessed at.
"""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

EXPLANATIONS = {
    # Per-platform outcomes (history results).
    "DESCRIPTION_TOO_LONG": _(
        "The description is longer than this network allows (X takes 100 characters, the "
        "others 2,200). Shorten it and post again."
    ),
    "PLATFORM_DISCONNECTED": _(
        "This social account is disconnected in Taisly. Reconnect it in Taisly's app, then "
        "post again."
    ),
    "SANDBOX_FORCED_FAILURE": _(
        "The sandbox failed this platform on purpose: the description asked for it with #fail."
    ),
    "VIDEO_TOO_LARGE": _("The video is larger than 500 MB."),
    "VIDEO_TOO_SHORT": _("The video is shorter than 3 seconds."),
    "VIDEO_TOO_LONG": _("The video is longer than 90 seconds."),
    "VIDEO_NOT_VERTICAL": _("The video is not vertical 9:16 (for example 1080×1920)."),
    "VIDEO_UNREADABLE": _(
        "Taisly could not read the video: the file is damaged, truncated or not a video."
    ),
    # Refusals of a request (the Agent Kit's and the sandbox's codes).
    "VIDEO_REQUIRED": _("No video was attached."),
    "UNSUPPORTED_VIDEO_EXTENSION": _(
        "The file type is not one Taisly accepts (mp4, mov, avi, mkv, webm, flv, mpeg, mpg)."
    ),
    "PLATFORMS_REQUIRED": _("No platform was chosen."),
    "PLATFORM_NOT_FOUND": _("One of the chosen platforms is not connected to this Taisly account."),
    "INVALID_SCHEDULED_DATE": _("The scheduled time could not be read."),
    "SCHEDULED_INVALID": _("The scheduled time could not be read."),
    "POST_NOT_SCHEDULED": _("Only a scheduled post that has not gone out yet can be cancelled."),
    "POST_NOT_FOUND": _("Taisly has no such post (it may have been cancelled already)."),
    "INVALID_API_KEY": _("Taisly did not accept the key: it was revoked or regenerated."),
    "RATE_LIMITED": _("The key's hourly request limit was used up."),
}


def explain(code: str | None) -> str:
    """A sentence for ``code``, or "" when we do not know it (the code is then shown alone)."""
    if not code:
        return ""
    return str(EXPLANATIONS.get(code.strip().upper(), ""))
