from django.urls import path

from oversight import views

app_name = "oversight"
urlpatterns = [
    path("", views.index, name="index"),
    path("failures/", views.failures, name="failures"),
    path("quota/", views.quota, name="quota"),
    path("charts/", views.charts_all, name="charts"),
    path("audit/", views.audit, name="audit"),
    path("audit/export.csv", views.audit_export, name="audit_export"),
]
