"""Everything that talks to the service over gRPC: the typed client, the `tocsin` command line
and config as code. (The HTTP edge, which also calls the service, lives in `edge`.)"""
