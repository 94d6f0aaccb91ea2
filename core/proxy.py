"""The client's address when the product runs behind one reverse proxy (BEHIND_PROXY=true)."""


def client_ip(request) -> str | None:
    """Return the address the proxy saw: the last X-Forwarded-For entry, else REMOTE_ADDR.

    The proxy appends the address it was called from; entries before it are the client's word.
    """
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")[-1].strip()
    return forwarded or request.META.get("REMOTE_ADDR")
