from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CatalogConfig(AppConfig):
    name = "civicgrid.catalog"
    label = "catalog"
    verbose_name = _("Case catalog")
