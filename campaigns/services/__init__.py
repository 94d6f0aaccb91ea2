"""Campaign services: content, audience, delivery and workflow, one module per subdomain."""
