"""URLs of the segments app."""

from django.urls import path

from segments import views

app_name = "segments"
urlpatterns = [
    path("", views.index, name="list"),
    path("<str:slug>/", views.detail, name="detail"),
    path("<str:slug>/evaluate/", views.evaluate, name="evaluate"),
    path("<str:slug>/members.csv", views.members_csv, name="members-csv"),
]
