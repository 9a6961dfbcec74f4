from django.contrib import admin
from django.urls import include, path, re_path
from django.utils.translation import gettext_lazy as _
from django.views.generic import TemplateView
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from apps.core import health
from apps.core.api import errors

admin.site.site_header = _("OMS operations console")
admin.site.site_title = _("OMS operations console")
admin.site.index_title = _("Orders, stock, payments and after-sales")

urlpatterns = [
    path("", TemplateView.as_view(template_name="home.html"), name="home"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="schema"), name="api-redoc"),
    path("api/v1/", include("apps.inventory.api.urls")),
    path("api/v1/", include("apps.orders.api.search_urls")),
    path("api/v1/", include("apps.orders.api.payment_urls")),
    path("api/v1/", include("apps.orders.api.wms_urls")),
    path("api/v1/", include("apps.orders.api.urls")),
    path("api/v1/", include("apps.payments.api.urls")),
    path("api/v1/", include("apps.channels.api.urls")),
    path("api/v1/", include("apps.aftersales.api.urls")),
    re_path(r"^api/v1/", errors.api_not_found),
]

# Under /api/ errors are JSON ({"code", "message", "details"}); elsewhere Django's pages.
handler400 = errors.bad_request
handler403 = errors.permission_denied
handler404 = errors.page_not_found
handler500 = errors.server_error
