//! Compose adapter: compose files → `AdmissionRequest`s (one per service).
