"""URLs of the campaigns API, included under /api/v1/."""

from rest_framework.routers import SimpleRouter

from campaigns.api import views

app_name = "campaigns"

router = SimpleRouter()
router.register("campaigns", views.CampaignViewSet, basename="campaign")

urlpatterns = router.urls
