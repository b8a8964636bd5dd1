"""Meta's Graph API connectors: ``facebook`` (Page) and ``instagram`` (business account).

``graph.py`` holds the client (auth, appsecret_proof, error codes, usage
headers) and the config both share; ``sweep.py`` the newest-first paging and
its cursor; ``webhooks.py`` the signed webhook receiver; ``facebook.py`` and
``instagram.py`` the endpoints and the item -> Mention mapping of each.
"""

from listeners.connectors.meta.facebook import FacebookListener, FacebookSource, facebook_mention
from listeners.connectors.meta.instagram import (
    InstagramListener,
    InstagramSource,
    instagram_mention,
)

__all__ = [
    "FacebookListener",
    "FacebookSource",
    "InstagramListener",
    "InstagramSource",
    "facebook_mention",
    "instagram_mention",
]
