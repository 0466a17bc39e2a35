"""Posting's views, one module per page family (``reposts``, …)."""
