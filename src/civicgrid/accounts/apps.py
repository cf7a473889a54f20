from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    name = "civicgrid.accounts"
    label = "accounts"
    verbose_name = _("Accounts and units")

    def ready(self) -> None:
        from . import schema, signals  # noqa: F401
