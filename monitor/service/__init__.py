"""The watch daemon: per-target series files, polling pipeline, scheduling."""
