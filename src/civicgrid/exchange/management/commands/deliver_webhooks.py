from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from civicgrid.core.context import work_context
from civicgrid.exchange import webhooks
from civicgrid.exchange.models import Subscription


class Command(BaseCommand):
    help = (
        "Push pending changes to the subscriptions' webhooks once: every delivery that is due, "
        "or one subscription at once (--subscription). Failed deliveries are retried later with "
        "growing delays; stuck ones wait for a retry by hand. The task workers run this every "
        "WEBHOOK_SECONDS."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--subscription",
            metavar="ID",
            help="Deliver only this subscription, now, even if its next attempt is not due.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        with work_context():
            if options["subscription"] is not None:
                result = webhooks.deliver_one(
                    self._subscription(options["subscription"]), force=True
                )
            else:
                result = webhooks.deliver_due()
        self.stdout.write(
            _(
                "Webhooks: %(subscriptions)d subscription(s) served, %(delivered)d change(s) "
                "delivered in %(batches)d batch(es), %(failed)d failed attempt(s), %(stuck)d "
                "newly stuck."
            )
            % {
                "subscriptions": result.subscriptions,
                "delivered": result.delivered,
                "batches": result.batches,
                "failed": result.failed,
                "stuck": result.stuck,
            }
        )
        if result.failed:
            self.stderr.write(_("Some deliveries failed: see the data sharing page."))

    def _subscription(self, value: str) -> int:
        try:
            pk = int(value)
        except ValueError as exc:
            raise CommandError(_("--subscription: give the subscription's number.")) from exc
        subscription = Subscription.objects.filter(pk=pk).first() if 0 < pk < 2**63 else None
        if subscription is None:
            raise CommandError(
                _("--subscription: no subscription has the number %(id)s.") % {"id": pk}
            )
        if not subscription.webhook_url:
            raise CommandError(_("--subscription: this subscription has no webhook."))
        if subscription.delivery.stuck:
            self.stderr.write(_("This delivery is stuck: it is tried once more now."))
        return pk
