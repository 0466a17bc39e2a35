"""Planning: the calendar of a workspace's posts by the day and hour each goes out."""
