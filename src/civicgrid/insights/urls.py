from django.urls import include, path

from .views import dashboard, screen, trace

app_name = "insights"

# Pages: the dashboard, big screen and figure tracing (views/), assessment (scorecard_urls.py).
urlpatterns = [
    path("insights/", dashboard.dashboard, name="dashboard"),
    path("insights/cases/", trace.cases, name="cases"),
    path("insights/screen/", screen.screen, name="screen"),
    path("insights/screen/data/", screen.screen_data, name="screen-data"),
    path("insights/scorecards/", include("civicgrid.insights.scorecard_urls")),
]
