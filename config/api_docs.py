"""The OpenAPI schema and docs (drf-spectacular) of the REST API under /api/v1/."""

SPECTACULAR_SETTINGS = {
    "TITLE": "Profiling & precision operations API",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Several models have a "status", "kind" or "channel": name each enum after its model.
    "ENUM_NAME_OVERRIDES": {
        "CampaignStatusEnum": "campaigns.models.Campaign.Status",
        "CampaignKindEnum": "campaigns.models.Campaign.Kind",
        "MessageChannelEnum": "campaigns.models.Channel",
        "ConsentChannelEnum": "profiles.models.ConsentChannel",
        # Every registered channel (campaigns.channels): more than the built-in ones.
        "CampaignChannelEnum": "campaigns.channels.channel_choices",
        "TouchpointEnum": "profiles.models.Touchpoint",
        "ConsentStatusEnum": "profiles.models.ConsentStatus",
        "FlowStatusEnum": "flows.models.Flow.Status",
        "EnrollmentStatusEnum": "flows.models.Enrollment.Status",
    },
}
