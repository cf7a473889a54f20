from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps
from django.utils.translation import gettext_lazy as _


class WebConfig(AppConfig):
    default = True
    name = "civicgrid.web"
    label = "web"
    verbose_name = _("Web pages")


class CivicgridAdminConfig(admin_apps.AdminConfig):
    default = False
    default_site = "civicgrid.web.admin_site.CivicgridAdminSite"
