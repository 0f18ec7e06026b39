"""Dagster orchestration of AudioRole: Definitions, partitions, sensors, schedules, jobs and the CLI."""
