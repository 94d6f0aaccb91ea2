"""URLs of the flows API, included under /api/v1/."""

from rest_framework.routers import SimpleRouter

from core.api import NO_SLASH
from flows.api import views

app_name = "flows"

router = SimpleRouter()
router.register("flows", views.FlowViewSet, basename="flow")
router.register(
    rf"flows/(?P<flow_slug>{NO_SLASH})/enrollments",
    views.FlowEnrollmentViewSet,
    basename="flow-enrollment",
)

urlpatterns = router.urls
