from django.urls import path

from oversight import views

app_name = "oversight"
urlpatterns = [
    path("", views.index, name="index"),
    path("audit/", views.audit, name="audit"),
]
