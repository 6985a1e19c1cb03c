"""The Open Inference Protocol over gRPC: `inference.proto` (KServe's and Triton's messages, the
part served), its generated code (`make proto`), the servicer and the server of one worker."""
