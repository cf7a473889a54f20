"""Insights models: case rollups (rollups.py) and assessment scorecards (scorecards.py)."""

from .rollups import CaseRollup, RollupDirty, RollupMark
from .scorecards import (
    Indicator,
    Score,
    ScorecardRun,
    ScorecardTemplate,
    ScoreCase,
)

__all__ = [
    "CaseRollup",
    "Indicator",
    "RollupDirty",
    "RollupMark",
    "Score",
    "ScoreCase",
    "ScorecardRun",
    "ScorecardTemplate",
]
