"""Pages of the profiles app, one module per subdomain."""
