"""Posting's views, one module per page family (compose.py: compose and upload)."""
