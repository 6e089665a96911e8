"""The application: configuration, CLI, authentication and the REST API; it wires the other packages."""
