from django.urls import path, register_converter

from . import transfer_views, views
from .views.common import KindConverter

register_converter(KindConverter, "regkind")

app_name = "registry"
urlpatterns: list = [
    # pages: browse, households, residents, care groups (registry/views.py)
    path("registry/", views.home, name="home"),
    path("registry/search/", views.search, name="search"),
    path("registry/area/<int:pk>/", views.area, name="area"),
    path("registry/options/", views.options, name="options"),
    path("registry/care/<int:pk>/visit/", views.care_visit, name="visit"),
    path("registry/residents/<int:pk>/move/", views.resident_move, name="move"),
    path("registry/residents/<int:pk>/tag/", views.resident_tag, name="tag"),
    path("registry/<regkind:kind>/", views.record_list, name="list"),
    path("registry/<regkind:kind>/new/", views.record_new, name="new"),
    path("registry/<regkind:kind>/<int:pk>/", views.record_page, name="record"),
    path("registry/<regkind:kind>/<int:pk>/edit/", views.record_edit, name="edit"),
    path("registry/<regkind:kind>/<int:pk>/end/", views.record_end, name="end"),
    path("registry/<regkind:kind>/<int:pk>/unmask/", views.unmask, name="unmask"),
    # (end of the pages)
    # import and export pages (registry/transfer_views.py)
    path("registry/import/", transfer_views.import_page, name="import"),
    path("registry/import/<int:pk>/", transfer_views.import_job, name="import-job"),
    path("registry/import/<int:pk>/repeat/", transfer_views.import_repeat, name="import-repeat"),
    path("registry/<regkind:kind>/template.<str:fmt>", transfer_views.template, name="template"),
    path("registry/<regkind:kind>/export/", transfer_views.export_page, name="export"),
    path("registry/exports/<int:pk>/", transfer_views.export_job, name="export-job"),
    path(
        "registry/exports/<int:pk>/download/",
        transfer_views.export_download,
        name="export-download",
    ),
]
