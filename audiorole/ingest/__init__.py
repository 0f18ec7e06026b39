"""Ingest: an episode's media probed, its audio standardized, its subtitles parsed."""
