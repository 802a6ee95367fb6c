"""The Tocsin service: domain model, store, on-call maths, the engine and the gRPC servicers."""
