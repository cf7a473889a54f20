from django.contrib.auth import views as auth_views
from django.urls import path

from . import views

app_name = "web"
urlpatterns = [
    path("", views.home, name="home"),
    path("accounts/login/", views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/me/", views.account, name="account"),
    path("inbox/", views.inbox, name="inbox"),
    path("accounts/me/tokens/<int:pk>/revoke/", views.revoke_token, name="revoke-token"),
]
