from django.conf import settings
from django.contrib import admin
from django.urls import include, path

urlpatterns: list = [
    path("api/v1/", include("civicgrid.config.api_urls")),
    path("admin/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("", include("civicgrid.web.urls")),
    path("", include("civicgrid.geo.urls")),
    path("", include("civicgrid.accounts.urls")),
    path("", include("civicgrid.core.urls")),
    path("", include("civicgrid.cases.urls")),
    path("", include("civicgrid.catalog.urls")),
    path("", include("civicgrid.registry.urls")),
    path("", include("civicgrid.exchange.urls")),
    path("", include("civicgrid.insights.urls")),
    path("", include("civicgrid.fieldwork.urls")),
]

if settings.DEBUG:
    from django.conf.urls.static import static

    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)
