//! The embedded KMS's integration suite, one test binary of modules: the official AWS SDK and
//! the Python SDK against it (`sdk`), imported key material (`imports`), multi-Region keys across
//! linked regions (`regions`), and what its trace logs may never contain (`trace_logs`).

mod imports;
mod regions;
mod sdk;
mod trace_logs;
