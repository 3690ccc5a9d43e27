//! Generates the gRPC code from `proto/fathom/v1/*.proto` into `OUT_DIR`, using the vendored
//! `protoc` so that a fresh machine needs no system package.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files = ["proto/fathom/v1/task.proto", "proto/fathom/v1/worker.proto", "proto/fathom/v1/coordinator.proto"];
    for file in files {
        println!("cargo:rerun-if-changed={file}");
    }
    let mut config = prost_build::Config::new();
    config.protoc_executable(protoc_bin_vendored::protoc_bin_path()?);
    tonic_prost_build::configure().compile_with_config(config, &files, &["proto"])?;
    Ok(())
}
