//! The `cipherdrop` binary's suite, one test binary of modules, each starting the binary as a
//! process because a process is the point: local commands (`commands`), the embedded KMS as a
//! process (`kms`), `serve` killed, restarted and faulted (`backend*`), against moto
//! (`backend_moto`), the native client (`client`) and its uploads meeting faults
//! (`put_faults`), replicas on PostgreSQL (`cluster`), the CloudFormation stack deployed into
//! moto (`stack`), the container image built and run with podman (`container`), key rotation
//! across a kill (`rekey`), backups restored elsewhere (`backup`), and the official
//! `aws-encryption-cli` reading what we wrote (`encryption_cli`).

mod backend;
mod backend_faults;
mod backend_moto;
mod backup;
mod client;
mod cluster;
mod commands;
mod container;
mod encryption_cli;
mod kms;
mod put_faults;
mod rekey;
mod stack;
