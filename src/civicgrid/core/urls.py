from django.urls import path

from . import views

app_name = "core"
urlpatterns = [
    path("audit/", views.changes, name="changes"),
    path("audit/changes/<int:pk>/", views.change_detail, name="change"),
    path("audit/access/", views.access_log, name="access"),
]
