"""Dagster assets, one module per stage family; they stay thin and call ``audiorole`` functions."""
