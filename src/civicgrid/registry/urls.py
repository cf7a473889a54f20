from django.urls import path  # noqa: F401

app_name = "registry"
urlpatterns: list = [
    # pages: browse, households, residents, care groups (registry/views.py)
    # import and export pages (registry/transfer_views.py)
]
