from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RegistryConfig(AppConfig):
    name = "civicgrid.registry"
    label = "registry"
    verbose_name = _("Basic information")

    def ready(self) -> None:
        from .importing import register_importers

        register_importers()
