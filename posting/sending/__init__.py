"""Sending: compose a post, receive and check its video, forward it to Taisly, and everything
that follows a send (reconcile, decisions, retry of failed platforms, cancel, clean up)."""
