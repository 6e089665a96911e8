"""Socket.IO namespaces, wire schemas, per-connection state and ICE credentials."""
