"""Content-Security-Policy helpers beyond django-csp's settings.

The end-user consent pages are self-contained (their styles inline, nothing else loaded) and must
answer every unusable link with the very same bytes, so they cannot carry a per-request nonce:
``inline_styles_hashed`` allows their <style> blocks by hash instead.
"""

import base64
import functools
import hashlib
import re

_STYLE = re.compile(rb"<style>(.*?)</style>", re.S)


def style_hashes(content: bytes) -> list[str]:
    """Return the CSP hash sources ('sha256-…') of the <style> blocks in an HTML document."""
    return [
        f"'sha256-{base64.b64encode(hashlib.sha256(block).digest()).decode()}'"
        for block in _STYLE.findall(content)
    ]


def inline_styles_hashed(view):
    """Let the <style> blocks of the view's HTML answer through the policy, by their hashes."""

    @functools.wraps(view)
    def wrapped(request, *args, **kwargs):
        response = view(request, *args, **kwargs)
        if response.get("Content-Type", "").startswith("text/html") and not response.streaming:
            hashes = style_hashes(response.content)
            if hashes:
                response._csp_update = {"style-src": hashes}  # what django-csp's csp_update sets
        return response

    return wrapped
