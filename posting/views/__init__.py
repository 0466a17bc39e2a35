"""Posting's views, one module per page family (compose, history, posts, calendar, platforms,
reposts)."""
