"""Tools around the product: benchmarks, the demo data, and a loopback SMTP sink."""
