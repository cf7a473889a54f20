"""The change feed (read by the handlers of a subscribing unit) and the subscriptions
(managed by the system administrators of their area)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from civicgrid.core.api.views import ScopedReadOnlyViewSet
from civicgrid.core.scoping import Action, reaches
from civicgrid.exchange import actions, selectors
from civicgrid.exchange.models import Subscription

from . import serializers as s


class ChangeFeedView(APIView):
    """The change feed of shared basic information (一次采集、多方使用)."""

    @extend_schema(
        tags=["exchange"],
        summary="Changes your unit's subscriptions receive, after a cursor",
        description=(
            "Ordered by `seq`. Ask again with `since` set to the answer's `next` until "
            "`has_more` is false; from any cursor no change is skipped or repeated. `next` may "
            "lie beyond the last change returned: changes that do not concern your unit are "
            "passed over. Each change carries only the field classes subscribed to, with ID and "
            "phone numbers masked."
        ),
        parameters=[s.ChangeQuerySerializer],
        responses=s.FeedPageSerializer,
    )
    def get(self, request: Request) -> Response:
        query = s.ChangeQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        params = query.validated_data
        subscriptions = list(selectors.feed_subscriptions(request.user))
        if not subscriptions:
            raise PermissionDenied(_("Your unit has no active subscription to the change feed."))
        wanted = params.get("subscription")
        if wanted is not None:
            subscriptions = [x for x in subscriptions if x.pk == wanted]
            if not subscriptions:
                raise ValidationError(
                    {"subscription": _("Your unit has no active subscription with this id.")}
                )
        grants = [selectors.Grant.of(x) for x in subscriptions]
        types = selectors.parse_types(params.get("types"), grants)
        page = selectors.read(grants, since=params["since"], limit=params["limit"], types=types)
        return Response(page.as_dict())


@extend_schema_view(
    list=extend_schema(summary="Subscriptions to the change feed", tags=["exchange"]),
    retrieve=extend_schema(summary="One subscription with its delivery state", tags=["exchange"]),
)
class SubscriptionViewSet(mixins.CreateModelMixin, mixins.UpdateModelMixin, ScopedReadOnlyViewSet):
    """Which unit receives which records and fields of which area, and its webhook."""

    queryset = Subscription.objects.select_related("unit", "division", "delivery")
    serializer_class = s.SubscriptionSerializer
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_serializer_class(self) -> Any:
        if self.action in {"create", "update", "partial_update"}:
            return s.SubscriptionWriteSerializer
        return s.SubscriptionSerializer

    def get_serializer_context(self) -> dict[str, Any]:
        return {**super().get_serializer_context(), "head": selectors.head()}

    def _out(self, subscription: Subscription, secret: str = "", **kwargs: Any) -> Response:
        fresh = self.get_queryset().filter(pk=subscription.pk).first() or subscription
        context = self.get_serializer_context()
        if secret:  # in this one answer only
            created = s.SubscriptionCreatedSerializer(fresh, context={**context, "secret": secret})
            return Response(created.data, **kwargs)
        return Response(s.SubscriptionSerializer(fresh, context=context).data, **kwargs)

    @extend_schema(
        tags=["exchange"],
        summary="Subscribe a unit (the webhook's secret is in this answer only)",
        request=s.SubscriptionWriteSerializer,
        responses={201: s.SubscriptionCreatedSerializer},
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        if not reaches(request.user, "exchange", Action.CHANGE):
            raise PermissionDenied(_("You may not manage subscriptions."))
        data = s.SubscriptionWriteSerializer(data=request.data, context={"request": request})
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        subscription, secret = actions.do_create_subscription(
            actor=request.user,
            unit=values.pop("unit", None),
            record_types=values.pop("record_types", None),
            field_classes=values.pop("field_classes", None),
            **values,
        )
        return self._out(subscription, secret, status=status.HTTP_201_CREATED)

    @extend_schema(
        tags=["exchange"],
        summary="Change a subscription (a first webhook's secret is in this answer only)",
        request=s.SubscriptionWriteSerializer,
        responses=s.SubscriptionCreatedSerializer,
    )
    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        subscription = self.get_object()
        data = s.SubscriptionWriteSerializer(
            data=request.data, partial=True, context={"request": request}
        )
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        if "unit" in values:
            raise ValidationError(
                {"unit": _("A subscription stays with its unit: create a new one.")}
            )
        subscription, secret = actions.do_update_subscription(
            subscription, actor=request.user, **values
        )
        return self._out(subscription, secret)

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return self.partial_update(request, *args, **kwargs)

    @extend_schema(
        tags=["exchange"],
        summary="Replace the webhook's signing secret (shown in this answer only)",
        request=None,
        responses=s.SecretSerializer,
    )
    @action(detail=True, methods=["post"], url_path="rotate-secret")
    def rotate_secret(self, request: Request, pk: str | None = None) -> Response:
        subscription = self.get_object()
        secret = actions.do_rotate_secret(subscription, actor=request.user)
        subscription.refresh_from_db()
        return Response({"secret": secret, "secret_hint": subscription.secret_hint})

    @extend_schema(
        tags=["exchange"],
        summary="Deliver now (also restarts a stuck delivery)",
        request=None,
        responses=s.SubscriptionSerializer,
    )
    @action(detail=True, methods=["post"])
    def retry(self, request: Request, pk: str | None = None) -> Response:
        subscription = self.get_object()
        actions.do_retry_delivery(subscription, actor=request.user)
        return self._out(subscription)

    @extend_schema(
        tags=["exchange"],
        summary="Pause webhook delivery (the feed stays readable)",
        request=None,
        responses=s.SubscriptionSerializer,
    )
    @action(detail=True, methods=["post"])
    def pause(self, request: Request, pk: str | None = None) -> Response:
        subscription = self.get_object()
        return self._out(actions.do_pause_delivery(subscription, actor=request.user, paused=True))

    @extend_schema(
        tags=["exchange"],
        summary="Resume webhook delivery from where it stopped",
        request=None,
        responses=s.SubscriptionSerializer,
    )
    @action(detail=True, methods=["post"])
    def resume(self, request: Request, pk: str | None = None) -> Response:
        subscription = self.get_object()
        return self._out(actions.do_pause_delivery(subscription, actor=request.user, paused=False))
