"""Views of the clients app, one module per resource.

Each view parses the request, authorizes it, calls one service and renders.
"""

from __future__ import annotations

from clients.views.accounts import (
    agency_create,
    healthz,
    home,
    invitation_accept,
    invitation_open,
    signup,
)

__all__ = ["agency_create", "healthz", "home", "invitation_accept", "invitation_open", "signup"]
