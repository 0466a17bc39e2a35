"""Seeds the load benchmark's people (tests/bench/bench_load.py), run as a child with the bench's
production environment after ``manage.py demo`` has made the demo workspaces and their history:

    LOAD_SEED_USERS=50 LOAD_SEED_KEYS='["taisly_…", …]' python -m tests.bench.load_seed

- LOAD_SEED_USERS people ``load-NN@bench.test``, each with a verified address, all with one
  password (hashed once: production's hasher is slow on purpose), each an editor of the demo's
  "Kopi Senja", a viewer of "Batik Nusantara" and the owner of a personal workspace (made for
  every new user by the accounts app): a member of three workspaces;
- the first len(LOAD_SEED_KEYS) of them (the uploaders) get their personal workspace connected
  to one of those sandbox keys (through the real connect service, which checks the key), with
  its platforms read into the mirror: each uploader uploads as a different person into a
  different workspace.

The keys come through the environment, never argv (which ``ps`` shows). Prints one JSON line:
the password, and per person the email, the workspaces to browse (code and some post codes)
and, for an uploader, the workspace to upload to.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a file path: make `tests` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.bench.helpers import setup_django

#: The demo's client workspaces (posting/management/commands/demo.py): every load user joins both.
DEMO_WORKSPACES = {"Kopi Senja": "editor", "Batik Nusantara": "viewer"}
#: Post pages to visit per workspace.
POSTS_PER_WORKSPACE = 30


def seed(count: int, keys: list[str]) -> dict:
    from allauth.account.models import EmailAddress
    from django.contrib.auth.hashers import make_password

    from accounts.models import Membership, User, Workspace
    from posting import taisly
    from posting.connection import keys as key_services
    from posting.models import Platform, Post

    demo = {}
    for name, role in DEMO_WORKSPACES.items():
        workspace = Workspace.objects.filter(name=name, kind=Workspace.Kind.CLIENT).first()
        if workspace is None:
            raise SystemExit(f"No demo workspace {name!r}: run `manage.py demo` first.")
        demo[name] = (workspace, role)

    password = secrets.token_urlsafe(16)
    hashed = make_password(password)
    people = []
    for number in range(count):
        email = f"load-{number:02d}@bench.test"
        user = User.objects.create_user(email=email, display_name=f"Load {number:02d}")
        User.objects.filter(pk=user.pk).update(password=hashed)
        EmailAddress.objects.create(user=user, email=email, verified=True, primary=True)
        for workspace, role in demo.values():
            Membership.objects.create(workspace=workspace, user=user, role=role)
        personal = Workspace.objects.get(
            kind=Workspace.Kind.PERSONAL,
            memberships__user=user,
            memberships__role=Membership.Role.OWNER,
        )
        person = {"email": email, "upload_to": None}
        if number < len(keys):
            key_services.connection_connect(
                workspace=personal, api_key=keys[number], plan=None, actor=user
            )
            with taisly.TaislyClient(keys[number]) as client:
                for item in client.platforms():
                    Platform.objects.get_or_create(
                        workspace=personal,
                        taisly_id=item.id,
                        defaults={"network": item.network, "name": item.name},
                    )
            person["upload_to"] = str(personal.code)
        person["workspaces"] = [str(w.code) for w, _role in demo.values()] + [str(personal.code)]
        people.append(person)

    posts = {
        str(workspace.code): [
            str(code)
            for code in Post.objects.filter(workspace=workspace)
            .order_by("-created_at")
            .values_list("code", flat=True)[:POSTS_PER_WORKSPACE]
        ]
        for workspace, _role in demo.values()
    }
    if not any(posts.values()):
        raise SystemExit("The demo workspaces have no posts: did the demo reach the sandbox?")
    return {"password": password, "people": people, "posts": posts}


def main() -> int:
    setup_django()
    count = int(os.environ["LOAD_SEED_USERS"])
    keys = json.loads(os.environ.get("LOAD_SEED_KEYS", "[]"))
    print(json.dumps(seed(count, keys)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
