from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field, inline_serializer
from rest_framework import serializers

from civicgrid.accounts.api.serializers import ScopedPrimaryKeyField
from civicgrid.accounts.models import Unit
from civicgrid.cases.api.serializers import UnitRefSerializer
from civicgrid.exchange.fields import FieldClass, RecordType
from civicgrid.exchange.models import Delivery, Subscription
from civicgrid.exchange.selectors import MAX_LIMIT
from civicgrid.geo.api.serializers import DivisionRefSerializer
from civicgrid.geo.models import Division

MAX_SEQ = 2**63 - 1


# --- the change feed --------------------------------------------------------------------------
class ChangeQuerySerializer(serializers.Serializer):
    since = serializers.IntegerField(
        min_value=0,
        max_value=MAX_SEQ,
        default=0,
        help_text=_("Cursor: the `next` of the previous page (0 for the beginning)."),
    )
    types = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=200,
        help_text=_("Record types, comma-separated (default: all the unit is subscribed to)."),
    )
    limit = serializers.IntegerField(
        min_value=1, max_value=MAX_LIMIT, default=100, help_text=_("Changes per page.")
    )
    subscription = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=MAX_SEQ,
        help_text=_("Only this one of the unit's subscriptions."),
    )


# Built from a dict: a serializer class cannot declare fields named `fields` or `data`.
ChangeSerializer = inline_serializer(
    name="FeedChange",
    many=True,
    fields={
        "seq": serializers.IntegerField(
            help_text=_("Position in the feed; receivers dedupe by it.")
        ),
        "time": serializers.DateTimeField(),
        "record_type": serializers.ChoiceField(choices=RecordType.choices),
        "object_id": serializers.IntegerField(),
        "action": serializers.CharField(help_text=_("create, update, move, end, visit, …")),
        "fields": serializers.ListField(
            child=serializers.CharField(), help_text=_("The changed fields you receive.")
        ),
        "in_area": serializers.BooleanField(
            help_text=_("False when the record has moved out of the subscribed area.")
        ),
        "data": serializers.DictField(
            help_text=_("The record after the change, only your field classes, numbers masked.")
        ),
    },
)


class FeedPageSerializer(serializers.Serializer):
    next = serializers.IntegerField(help_text=_("Pass as `since` to read on."))
    head = serializers.IntegerField(help_text=_("The newest position of the whole feed."))
    has_more = serializers.BooleanField()
    results = ChangeSerializer


# --- subscriptions ----------------------------------------------------------------------------
@extend_schema_field({"type": "string", "enum": RecordType.values})
class RecordTypeField(serializers.ChoiceField):
    """A record type, described inline: as a named enum it would clash with the feed's
    `record_type` (one choice set under two component names)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(choices=RecordType.choices, **kwargs)


class DeliverySerializer(serializers.ModelSerializer):
    class Meta:
        model = Delivery
        fields = (
            "delivered_seq",
            "delivered_total",
            "attempts",
            "next_attempt_at",
            "last_attempt_at",
            "last_success_at",
            "last_status",
            "last_error",
            "stuck",
        )
        read_only_fields = fields


class SubscriptionSerializer(serializers.ModelSerializer):
    unit = UnitRefSerializer(read_only=True)
    division = DivisionRefSerializer(read_only=True)
    delivery = DeliverySerializer(read_only=True)
    head = serializers.SerializerMethodField()
    lag = serializers.SerializerMethodField()

    class Meta:
        model = Subscription
        fields: tuple[str, ...] = (
            "id",
            "name",
            "unit",
            "record_types",
            "field_classes",
            "division",
            "webhook_url",
            "secret_hint",
            "is_active",
            "paused",
            "created_at",
            "delivery",
            "head",
            "lag",
        )
        read_only_fields: tuple[str, ...] = fields

    def get_head(self, obj: Subscription) -> int:
        return int(self.context.get("head", 0))

    def get_lag(self, obj: Subscription) -> int | None:
        """Feed entries after the webhook's position (an upper bound of what is pending)."""
        if not obj.webhook_url:
            return None
        delivery = getattr(obj, "delivery", None)
        delivered = delivery.delivered_seq if delivery is not None else 0
        return max(0, self.get_head(obj) - delivered)


class SubscriptionCreatedSerializer(SubscriptionSerializer):
    secret = serializers.SerializerMethodField(
        help_text=_("The webhook's signing secret: shown this once, never again.")
    )

    class Meta(SubscriptionSerializer.Meta):
        fields = (*SubscriptionSerializer.Meta.fields, "secret")
        read_only_fields = fields

    def get_secret(self, obj: Subscription) -> str:
        return str(self.context.get("secret", ""))


class SubscriptionWriteSerializer(serializers.Serializer):
    unit = ScopedPrimaryKeyField(Unit, {"is_active": True}, required=False)
    name = serializers.CharField(max_length=80, required=False, allow_blank=True)
    record_types = serializers.ListField(child=RecordTypeField(), required=False)
    field_classes = serializers.ListField(
        child=serializers.ChoiceField(choices=FieldClass.choices), required=False
    )
    division = ScopedPrimaryKeyField(
        Division,
        {"is_active": True},
        required=False,
        allow_null=True,
        help_text=_("The area whose records it receives (default: the unit's division)."),
    )
    webhook_url = serializers.CharField(max_length=500, required=False, allow_blank=True)
    is_active = serializers.BooleanField(required=False)


class SecretSerializer(serializers.Serializer):
    secret = serializers.CharField(
        read_only=True, help_text=_("The new signing secret: shown this once, never again.")
    )
    secret_hint = serializers.CharField(read_only=True)
