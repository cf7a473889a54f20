from django.urls import path

from .views import app as app_views
from .views import centre

app_name = "fieldwork"
urlpatterns: list = [
    # the grid worker's app (views/app.py)
    path("field/", app_views.app, name="app"),
    path("field/manifest.webmanifest", app_views.manifest, name="manifest"),
    path("field/sw.js", app_views.service_worker, name="sw"),
    # the centre side (views/centre.py)
    path("field/duties/", centre.duties_page, name="duties"),
    path("field/workers/<int:pk>/", centre.worker_page, name="worker"),
]
