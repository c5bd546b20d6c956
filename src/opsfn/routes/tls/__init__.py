"""TLS materials on the shared file system: a self-signed key and certificate, renewed on time.

Replaces the OpenEMR on ECS stack's ``generate_ssl_materials`` function. Public routes: the custom
resource ``Custom::SslMaterials``, the action ``generate_ssl_materials`` and the schedule
``rotate-ssl-materials``. ``cryptography`` loads inside the routes that use it.

``router`` is built on first access, so that the handler (which registers routes from the
manifest) can import one module without the others.
"""

from __future__ import annotations

from opsfn.lazy import attributes

__all__ = ["router"]

__getattr__, __dir__ = attributes(globals(), {"router": "opsfn.routes.tls.routes:router"})
