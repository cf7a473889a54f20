from django.urls import path

from . import views

app_name = "cases"
urlpatterns = [
    path("cases/", views.case_list, name="list"),
    path("cases/new/", views.case_new, name="new"),
    path("cases/<int:pk>/", views.case_page, name="case"),
    path("cases/<int:pk>/act/<str:name>/", views.case_act, name="act"),
    path("cases/<int:pk>/phone/", views.case_phone, name="phone"),
]
