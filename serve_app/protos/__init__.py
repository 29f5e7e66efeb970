"""The Open Inference Protocol's gRPC service: the vendored `open_inference_grpc.proto` and the
stubs `make install` generates from it with grpcio-tools (`open_inference_grpc_pb2*.py`, not
committed). Ray Serve's gRPC proxy registers the service through
`open_inference_grpc_pb2_grpc.add_GRPCInferenceServiceServicer_to_server` (serve_config.yaml
`grpc_options`); `serve_app.grpc_v2` implements it."""
