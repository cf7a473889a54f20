from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class GeoConfig(AppConfig):
    name = "civicgrid.geo"
    label = "geo"
    verbose_name = _("Divisions and grids")

    def ready(self) -> None:
        from .importing import register_importers

        register_importers()
