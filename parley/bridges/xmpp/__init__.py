"""The XMPP bridge: ``stream`` (the sans-IO XML stream parser and stanza builders),
``mapping`` (stanzas <-> Parley, sans-IO), ``component`` (the XEP-0114 trio adapter)."""
