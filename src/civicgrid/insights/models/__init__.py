"""Insights models: case rollups (rollups.py) and assessment scorecards (scorecards.py)."""

from .rollups import CaseRollup, CommunityRollup, RollupDirty, RollupMark
from .scorecards import (
    Indicator,
    Score,
    ScorecardRun,
    ScorecardTemplate,
    ScoreCase,
)

__all__ = [
    "CaseRollup",
    "CommunityRollup",
    "Indicator",
    "RollupDirty",
    "RollupMark",
    "Score",
    "ScoreCase",
    "ScorecardRun",
    "ScorecardTemplate",
]
