"""posting's models, one module per concern; import them from here.

Workspace ─┬─ MirrorState (when each part was last synced)              mirror.py
           ├─ Platform* (a connected social account; marked gone)       mirror.py
           ├─ RepostRule* (from one platform to others)                 mirror.py
           ├─ Post* ─── PostResult* (one per platform)                  posts.py
           ├─ Draft* (a post saved without sending; keeps its video)     drafts.py
           │    ├─ DraftVersion* (what it said at each review)           drafts.py
           │    ├─ Comment*, ReviewLink* (client review without an account) reviews.py
           │    └─ DraftWatch* (who hears of its review: Draft.watchers)   reviews.py
           ├─ PostingSlot* (weekly slots "Add to queue" fills)          slots.py
           ├─ UploadInProgress* (per user, while a body arrives)         uploads.py
           ├─ Alert* ─── AlertRead*, AlertPreference* (per member)     alerts.py
           └─ WebhookEndpoint* ─── WebhookDelivery* ─── WebhookAttempt* webhooks.py
TaislyConnection ─┬─ TaislyRequest* (the ledger), KeyBudget (per key)  ledger.py
"""

from posting.models.alerts import Alert, AlertPreference, AlertRead
from posting.models.drafts import (
    Draft,
    DraftVersion,
    ReviewStage,
    ReviewState,
    review_stages,
)
from posting.models.ledger import KeyBudget, TaislyRequest
from posting.models.mirror import (
    DESCRIPTION_LIMIT,
    DESCRIPTION_LIMITS,
    VIDEO_MAX_SECONDS,
    MirrorState,
    Network,
    Platform,
    RepostRule,
    description_limit,
)
from posting.models.posts import Post, PostResult
from posting.models.reviews import COMMENT_MAX_LENGTH, Comment, DraftWatch, ReviewLink
from posting.models.slots import SLOTS_MAX, PostingSlot
from posting.models.uploads import UploadInProgress
from posting.models.webhooks import WebhookAttempt, WebhookDelivery, WebhookEndpoint

__all__ = [
    "DESCRIPTION_LIMIT",
    "DESCRIPTION_LIMITS",
    "SLOTS_MAX",
    "VIDEO_MAX_SECONDS",
    "Alert",
    "AlertPreference",
    "AlertRead",
    "COMMENT_MAX_LENGTH",
    "Comment",
    "Draft",
    "DraftVersion",
    "DraftWatch",
    "KeyBudget",
    "MirrorState",
    "Network",
    "Platform",
    "Post",
    "PostResult",
    "PostingSlot",
    "RepostRule",
    "ReviewLink",
    "ReviewStage",
    "ReviewState",
    "TaislyRequest",
    "UploadInProgress",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEndpoint",
    "description_limit",
    "review_stages",
]
