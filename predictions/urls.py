"""URLs of the prediction pages."""

from django.urls import path

from predictions import views

app_name = "predictions"
urlpatterns = [
    path("", views.model, name="model"),
    path("runs/<int:pk>/", views.model, name="run"),
    path("refresh/", views.refresh, name="refresh"),
    path("clusters/", views.clusters, name="clusters"),
    path("clusters/<str:slug>/", views.cluster_detail, name="cluster"),
    path("rules/", views.rules, name="rules"),
]
