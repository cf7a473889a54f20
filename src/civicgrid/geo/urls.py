from django.urls import path

from . import views

app_name = "geo"
urlpatterns = [
    path("map/", views.map_page, name="map"),
    path("divisions/", views.divisions, name="divisions"),
    path("divisions/<int:pk>/", views.division_detail, name="division"),
    path("divisions/<int:pk>/edit/", views.division_edit, name="division-edit"),
    path("divisions/<int:pk>/add/", views.division_add, name="division-add"),
    path("grids/<int:pk>/edit/", views.grid_edit, name="grid-edit"),
    path("sizing/", views.sizing_report, name="sizing"),
    path("sizing/recheck/", views.coverage_recheck, name="coverage-recheck"),
    path("imports/", views.imports, name="imports"),
    path("imports/<int:pk>/", views.import_job, name="import"),
    path("imports/<int:pk>/repeat/", views.import_repeat, name="import-repeat"),
]
