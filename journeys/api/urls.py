"""URLs of the journeys API, included under /api/v1/journeys/."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from journeys.api import views

app_name = "journeys"

router = SimpleRouter()
router.register("stages", views.StageViewSet, basename="stage")

urlpatterns = [*router.urls, path("funnel/", views.FunnelView.as_view(), name="funnel")]
