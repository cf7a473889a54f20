from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

from civicgrid.accounts.api import views as accounts
from civicgrid.cases.api import views as cases
from civicgrid.catalog.api import views as catalog
from civicgrid.core.api import audit, imports, notifications
from civicgrid.exchange.api import views as exchange
from civicgrid.fieldwork.api import duties as field_duties
from civicgrid.fieldwork.api import views as fieldwork
from civicgrid.geo.api import views as geo
from civicgrid.insights.api import scorecards as scorecards
from civicgrid.insights.api import views as insights
from civicgrid.registry.api import views as registry

router = DefaultRouter()
router.register("divisions", geo.DivisionViewSet, basename="division")
router.register("grids", geo.GridViewSet, basename="grid")
router.register("coverage-issues", geo.CoverageIssueViewSet, basename="coverage-issue")
router.register("units", accounts.UnitViewSet, basename="unit")
router.register("department-types", accounts.DepartmentTypeViewSet, basename="department-type")
router.register("users", accounts.UserViewSet, basename="user")
router.register("role-assignments", accounts.RoleAssignmentViewSet, basename="role-assignment")
router.register("imports", imports.ImportJobViewSet, basename="import")
router.register("cases", cases.CaseViewSet, basename="case")
router.register("categories", catalog.CategoryViewSet, basename="category")
router.register("sla-policies", catalog.SlaPolicyViewSet, basename="sla-policy")
router.register("calendar", catalog.CalendarViewSet, basename="calendar")
router.register("routes", catalog.RouteViewSet, basename="route")
router.register("notifications", notifications.NotificationViewSet, basename="notification")
router.register("audit/changes", audit.ObjectChangeViewSet, basename="object-change")
router.register("audit/access", audit.AccessLogViewSet, basename="access-log")
router.register("subscriptions", exchange.SubscriptionViewSet, basename="subscription")
router.register("registry/buildings", registry.BuildingViewSet, basename="registry-building")
router.register("registry/houses", registry.HouseViewSet, basename="registry-house")
router.register("registry/households", registry.HouseholdViewSet, basename="registry-household")
router.register("registry/residents", registry.ResidentViewSet, basename="registry-resident")
router.register(
    "registry/organisations", registry.OrganisationViewSet, basename="registry-organisation"
)
router.register("registry/places", registry.PlaceViewSet, basename="registry-place")
router.register("registry/care-tags", registry.CareTagViewSet, basename="registry-care-tag")
router.register("insights/scorecards", scorecards.ScorecardViewSet, basename="scorecard")
router.register("insights/scorecard-runs", scorecards.ScorecardRunViewSet, basename="scorecard-run")
router.register("insights/rankings", scorecards.RankingViewSet, basename="ranking")
router.register("field/visits", fieldwork.VisitViewSet, basename="field-visit")
router.register("field/patrols", fieldwork.PatrolViewSet, basename="field-patrol")
router.register("field/check-ins", fieldwork.CheckInViewSet, basename="field-check-in")

app_name = "api"
urlpatterns = [
    path("locate/", geo.LocateView.as_view(), name="locate"),
    path("sizing/", geo.SizingSummaryView.as_view(), name="sizing"),
    path("coverage-checks/", geo.CoverageCheckView.as_view(), name="coverage-check"),
    path("auth/token/", accounts.TokenView.as_view(), name="token"),
    path("me/", accounts.MeView.as_view(), name="me"),
    path("changes/", exchange.ChangeFeedView.as_view(), name="changes"),
    path("field/duties/", field_duties.DutiesView.as_view(), name="field-duties"),
    path("insights/kpis/", insights.KpiView.as_view(), name="insights-kpis"),
    path("insights/kpis/cases/", insights.KpiCasesView.as_view(), name="insights-kpi-cases"),
    path(
        "insights/definitions/", insights.KpiDefinitionsView.as_view(), name="insights-definitions"
    ),
    path(
        "cases/<int:case_pk>/attachments/<int:pk>/file/",
        cases.attachment_file,
        name="case-attachment-file",
    ),
    path("field/bootstrap/", fieldwork.BootstrapView.as_view(), name="field-bootstrap"),
    path("field/uploads/", fieldwork.UploadStartView.as_view(), name="field-uploads"),
    path("field/uploads/<str:uuid>/", fieldwork.UploadView.as_view(), name="field-upload"),
    path("field/cases/", fieldwork.CaseSubmitView.as_view(), name="field-cases"),
    path("field/residents/", fieldwork.ResidentSubmitView.as_view(), name="field-residents"),
    path(
        "field/photos/<int:pk>/file/",
        fieldwork.DutyPhotoFileView.as_view(),
        name="field-photo-file",
    ),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api:schema"), name="docs"),
    path("", include(router.urls)),
]
