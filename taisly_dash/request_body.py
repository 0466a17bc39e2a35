"""Request bodies: small everywhere, files only where a view opts in.

    any view ──RequestBodyMiddleware (before CSRF reads the body)──┐
        Content-Length > REQUEST_BODY_MAX_KB ─────────────> 413, nothing read
        a file part in a multipart POST ──────────────────> 415, nothing written (the parse
                                                             stops at the part's headers)
    @accepts_files(policy) view ──────────────────────────> the policy's handlers and size;
        Content-Length over the policy's size ───────────> 413, nothing read
    a body slower than its deadline (wsgi_input) ─────────> 408, the partial temp file removed

The default upload handler (``FILE_UPLOAD_HANDLERS``) refuses file parts, so a view that forgets
to opt in cannot be made to spool a file to disk. A view that takes files says so with
``accepts_files``, which installs its handlers before the body is read and then checks CSRF
(Django's documented way: ``csrf_exempt`` outside, ``csrf_protect`` once the handlers are in
place). A view that must decide who may post before a byte is read (compose) marks itself
``csrf_exempt`` too and protects its inner part after that check.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import BadRequest, SuspiciousOperation
from django.core.files.uploadhandler import FileUploadHandler, StopUpload
from django.http import HttpRequest, HttpResponse, UnreadablePostError
from django.http.multipartparser import MultiPartParserError
from django.shortcuts import render
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_protect

from taisly_dash.wsgi_input import BODY_TIMED_OUT


class RefuseFilesUploadHandler(FileUploadHandler):
    """Every view's handler unless it opts in: a file part ends the parse before a byte of the
    file is read, and the request is marked so the middleware can answer with a sentence."""

    def new_file(self, *args, **kwargs) -> None:
        if self.request is not None:
            self.request.files_refused = True
        # connection_reset: the rest of the body is not read (gunicorn closes or drains it).
        raise StopUpload(connection_reset=True)

    def receive_data_chunk(self, raw_data: bytes, start: int) -> None:  # never reached
        return None

    def file_complete(self, file_size: int) -> None:  # never reached
        return None


@dataclass(frozen=True)
class UploadPolicy:
    """What a view that takes files accepts: its upload handlers, the largest body (bytes,
    read when a request arrives, so settings may change) and the sentence for a larger one."""

    handlers: Callable[[HttpRequest], list[FileUploadHandler]]
    max_body_bytes: Callable[[], int]
    too_large: Callable[[], str]


def accepts_files(policy: UploadPolicy) -> Callable:
    """Let a view take file uploads with ``policy``'s handlers and size limit (outermost)."""

    def decorate(view: Callable) -> Callable:
        protected = csrf_protect(view)  # a no-op for a view that is csrf_exempt itself

        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if body_length(request) > 0:
                # Before anything reads the body (the CSRF check reads it).
                request.upload_handlers = policy.handlers(request)
                if body_length(request) > policy.max_body_bytes():
                    return refusal(request, 413, policy.too_large())
            return protected(request, *args, **kwargs)

        # CsrfViewMiddleware would read the body with the default handlers: it checks later.
        wrapper.csrf_exempt = True
        wrapper.upload_policy = policy
        return wrapper

    return decorate


class RequestBodyMiddleware:
    """Caps every other view's body, refuses file parts with a sentence, and answers 408 for a
    body that came too slowly (``taisly_dash.wsgi_input``). Sits before ``CsrfViewMiddleware``."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if request.META.get(BODY_TIMED_OUT):
            # Whatever the view made of a cut-short body (the CSRF check answers 403 to one).
            _interrupt_uploads(request)
            return refusal(
                request,
                408,
                _(
                    "The request arrived too slowly and was stopped; nothing of it was kept. "
                    "Check the connection and try again."
                ),
            )
        return response

    def process_view(self, request: HttpRequest, view_func, view_args, view_kwargs):
        if getattr(view_func, "upload_policy", None) is not None or body_length(request) <= 0:
            return None
        if not hasattr(request, "_files"):  # (read already: with the same default handler)
            request.upload_handlers = [RefuseFilesUploadHandler(request)]
        limit = settings.REQUEST_BODY_MAX_KB * 1024
        if body_length(request) > limit:
            return refusal(request, 413, too_large_sentence(limit))
        if request.method == "POST" and request.content_type == "multipart/form-data":
            # Parsed here rather than in the CSRF check, so a file part gets its own answer.
            try:
                request.POST  # noqa: B018
            except UnreadablePostError:
                return None  # too slow (answered in __call__) or the client went away
            except (MultiPartParserError, SuspiciousOperation, BadRequest):
                return refusal(
                    request, 400, _("The form could not be read. Reload the page and try again.")
                )
            if getattr(request, "files_refused", False):
                return refusal(
                    request,
                    415,
                    _("This page does not take files. Nothing was uploaded or kept."),
                )
        return None


def body_length(request: HttpRequest) -> int:
    try:
        return max(int(request.META.get("CONTENT_LENGTH") or 0), 0)
    except ValueError:
        return 0


def too_large_sentence(limit: int) -> str:
    return _(
        "This request is larger than %(limit)s, the most this page takes. Nothing was kept."
    ) % {"limit": filesizeformat(limit)}


def refusal(request: HttpRequest, status: int, sentence: str) -> HttpResponse:
    """A page with ``sentence`` (htmx: the sentence alone, swapped in where the form was)."""
    template = "request_refused.html"
    if request.headers.get("HX-Request") == "true":
        template += "#refusal"
    return render(request, template, {"sentence": sentence}, status=status)


def _interrupt_uploads(request: HttpRequest) -> None:
    # The handlers' partial temp files: removed now, not when the request is collected.
    for handler in getattr(request, "_upload_handlers", None) or ():
        if isinstance(handler, FileUploadHandler):
            handler.upload_interrupted()
