from django.urls import path

from . import views

app_name = "exchange"
urlpatterns = [
    path("exchange/subscriptions/", views.subscriptions, name="subscriptions"),
    path("exchange/subscriptions/new/", views.subscription_create, name="subscription-create"),
    path(
        "exchange/subscriptions/<int:pk>/edit/", views.subscription_edit, name="subscription-edit"
    ),
    path(
        "exchange/subscriptions/<int:pk>/rotate-secret/",
        views.subscription_rotate,
        name="subscription-rotate",
    ),
    path(
        "exchange/subscriptions/<int:pk>/retry/",
        views.subscription_retry,
        name="subscription-retry",
    ),
    path(
        "exchange/subscriptions/<int:pk>/pause/",
        views.subscription_pause,
        name="subscription-pause",
    ),
]
