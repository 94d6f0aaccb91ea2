"""The tools app: management commands that measure the product or fill it with demo data."""

from django.apps import AppConfig


class ToolsConfig(AppConfig):
    name = "tools"
    verbose_name = "Tools"
