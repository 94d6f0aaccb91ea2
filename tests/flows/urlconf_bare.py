"""A URLconf without any flow page."""

urlpatterns: list = []
