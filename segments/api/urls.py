"""URLs of the segments API, included under /api/v1/."""

from rest_framework.routers import SimpleRouter

from segments.api import views

app_name = "segments"

router = SimpleRouter()
router.register("segments", views.SegmentViewSet, basename="segment")

urlpatterns = router.urls
