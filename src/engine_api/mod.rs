//! Engine API adapter: Docker Engine API bodies (create, update, inspect, exec) →
//! `AdmissionRequest`.
