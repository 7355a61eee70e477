"""The web app of ``margin serve``: REST API, dashboard pages, API keys and the audit trail.

FastAPI is imported only by :func:`create_app`'s module; importing this package stays cheap.
"""

from __future__ import annotations

__all__: list[str] = []
