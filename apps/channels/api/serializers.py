from django.utils.translation import gettext_lazy as _
from rest_framework import serializers


class PushResultSerializer(serializers.Serializer):
    platform_order_id = serializers.CharField(help_text=_("The platform's order id."))
    raw_order_id = serializers.IntegerField(help_text=_("Our id of the stored raw order."))
    outcome = serializers.ChoiceField(
        choices=["created", "updated", "unchanged", "stale"],
        help_text=_("created / updated (queued for conversion), unchanged (same payload), stale (older than ours)."),
    )


class PushResponseSerializer(serializers.Serializer):
    accepted = serializers.IntegerField()
    results = PushResultSerializer(many=True)
