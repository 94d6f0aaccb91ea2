"""The Content-Security-Policy every answer carries (django-csp reads it from the settings)."""

from csp.constants import NONCE as CSP_NONCE

# Scripts only from our own files (no inline script, no eval); style sheets from our files or a
# <style> carrying the request's nonce or its hash (core.csp); style attributes are let through
# (plotly.js sets some); images from our files or data: URLs; no plugin, no framing by others.
# Each page is toured in a browser that fails on any violation (tests/browser/test_every_page.py).
# A message's HTML preview is framed under a policy of its own (campaigns.preview_frame).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", CSP_NONCE],
        # plotly.js sets a few style attributes with setAttribute (image rendering checks); an
        # attribute can only restyle its element, it loads nothing beyond img-src and font-src.
        "style-src-attr": ["'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "frame-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}
