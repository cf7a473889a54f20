"""Scorecard and ranking pages (included under /insights/scorecards/ by urls.py)."""

from django.urls import path

from .views import scorecards as views

urlpatterns: list = [
    path("", views.scorecards, name="scorecards"),
    path("new/", views.scorecard_new, name="scorecard-new"),
    path("<int:pk>/", views.scorecard, name="scorecard"),
    path("<int:pk>/edit/", views.scorecard_edit, name="scorecard-edit"),
    path("<int:pk>/run/", views.scorecard_run, name="scorecard-compute"),
    path("runs/<int:pk>/", views.run_page, name="scorecard-run"),
    path("runs/<int:pk>/publish/", views.run_publish, name="scorecard-publish"),
    path("scores/<int:pk>/", views.score_page, name="scorecard-score"),
]
