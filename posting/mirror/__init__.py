"""The mirror: Taisly's platforms, posts and repost rules read into the database, on demand and
in the background, and the repost rules' own actions."""
