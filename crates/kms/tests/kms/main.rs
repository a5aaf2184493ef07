//! The embedded KMS's integration suite, one test binary of modules: the official AWS SDK and
//! the Python SDK against it (`sdk`), imported key material (`imports`), and what its trace logs
//! may never contain (`trace_logs`).

mod imports;
mod sdk;
mod trace_logs;
