"""The gRPC API: the guard, the codecs and one servicer module per service. The only protobuf in
the service.
"""
