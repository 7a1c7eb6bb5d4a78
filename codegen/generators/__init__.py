"""Writing generated code from a validated contract: Python, Rust, golden vectors, schemas."""
