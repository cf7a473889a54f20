from django.urls import path

from . import views

app_name = "accounts"
urlpatterns = [
    path("users/", views.users, name="users"),
    path("users/new/", views.user_create, name="user-create"),
    path("users/<int:pk>/", views.user_detail, name="user"),
    path("users/<int:pk>/edit/", views.user_edit, name="user-edit"),
    path("users/<int:pk>/password/", views.user_password, name="user-password"),
    path("users/<int:pk>/state/", views.user_state, name="user-state"),
    path("users/<int:pk>/grant/", views.user_grant, name="user-grant"),
    path("assignments/<int:pk>/revoke/", views.assignment_revoke, name="assignment-revoke"),
    path("units/", views.units, name="units"),
    path("units/new/", views.unit_create, name="unit-create"),
    path("units/<int:pk>/edit/", views.unit_edit, name="unit-edit"),
]
