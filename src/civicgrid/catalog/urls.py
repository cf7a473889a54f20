from django.urls import path

from . import views

app_name = "catalog"
urlpatterns = [
    path("catalog/", views.index, name="index"),
    path("catalog/calendar/", views.calendar_page, name="calendar"),
    path("catalog/calendar/week/", views.calendar_week, name="calendar-week"),
    path("catalog/calendar/import/", views.calendar_import, name="calendar-import"),
    path("catalog/routes/", views.routes, name="routes"),
    path("catalog/routes/add/", views.route_add, name="route-add"),
    path("catalog/routes/<int:pk>/delete/", views.route_delete, name="route-delete"),
]
