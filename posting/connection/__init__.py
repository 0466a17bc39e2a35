"""A workspace's Taisly connection: its key's lifecycle (connect, regenerate, revoke, disconnect),
the key pages and the quota meter. Above the mirror: connecting a key stores its platforms."""
