"""Test-only endpoints that exercise the core API helpers the way the apps use them."""

from django.contrib.auth.models import Group
from django.urls import path
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.api.scoping import operator_name
from apps.core.exceptions import Conflict
from apps.core.idempotency import idempotent
from apps.shops.authentication import ShopSignatureAuthentication, caller_shop


class GroupCreateApi(APIView):
    """Creates a row; a name already taken answers 409, an empty one 400."""

    permission_classes = [IsAuthenticated]

    @idempotent
    def post(self, request):
        name = request.data.get("name", "")
        if not name:
            return Response({"code": "validation_error", "message": "name is required", "details": {}}, status=400)
        if Group.objects.filter(name=name).exists():
            raise Conflict("name_taken", "name is taken")
        group = Group.objects.create(name=name)
        return Response({"id": group.pk, "name": group.name}, status=201)


class WhoAmIApi(APIView):
    authentication_classes = [ShopSignatureAuthentication]
    permission_classes = [IsAuthenticated]

    def post(self, request):
        return Response({"shop": caller_shop(request).code, "operator": operator_name(request)})


urlpatterns = [
    path("groups", GroupCreateApi.as_view()),
    path("whoami", WhoAmIApi.as_view()),
]
