"""Everything that talks to the service over gRPC: the client, the CLI and the HTTP shim."""
