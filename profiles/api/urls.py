"""URLs of the profiles API, included under /api/v1/."""

from rest_framework.routers import SimpleRouter

from profiles.api import devices, views

app_name = "profiles"

router = SimpleRouter()
router.register("profiles", views.ProfileViewSet, basename="profile")
router.register("events", views.EventViewSet, basename="event")
router.register("tags", views.TagViewSet, basename="tag")
router.register("consents", views.ConsentViewSet, basename="consent")
router.register(
    r"profiles/(?P<profile_external_id>[^/]+)/devices",
    devices.ProfileDeviceViewSet,
    basename="profile-device",
)

urlpatterns = router.urls
