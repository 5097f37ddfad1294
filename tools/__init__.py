"""Developer tools that read the source tree (no runtime code imports them)."""
