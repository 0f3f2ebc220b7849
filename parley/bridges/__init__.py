"""The federation bridges (docs/federation.md): the I/O side of each network, above the
domain. ``matrix``: an application service on the Client-Server API v3 (httpx on trio);
``xmpp``: a XEP-0114 component on a sans-IO stream parser with a thin trio adapter."""
