"""AudioRole domain library: plain functions for turning TV series into character-grounded speech data.

Nothing here imports Dagster; the orchestration lives in ``audiorole_dagster`` and ``assets``.
"""

__version__ = "0.1.0"
