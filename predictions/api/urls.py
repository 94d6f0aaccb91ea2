"""URLs of the predictions API, included under /api/v1/."""

from rest_framework.routers import SimpleRouter

from predictions.api import views

app_name = "predictions"

router = SimpleRouter()
router.register("predictions", views.PredictionViewSet, basename="prediction")

urlpatterns = router.urls
