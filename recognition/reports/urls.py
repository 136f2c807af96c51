"""Pages of the reports: /reports/..."""

from django.urls import path

from recognition.reports import views

app_name = "reports"

urlpatterns = [
    path("", views.report_page, name="page"),
    path("plays.csv", views.report_csv, name="csv"),
    path("plays/", views.play_list, name="plays"),
]
